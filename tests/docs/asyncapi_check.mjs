// Validates AsyncAPI documents with the official parser (@asyncapi/parser).
// Usage: node asyncapi_check.mjs FILE...   Prints one JSON line per file:
// {"file", "ok", "errors": [...], "warnings": n, "channels": n, "messages": n}.
// Exit status 0 only when every document parses without an error diagnostic.
import { readFile } from 'node:fs/promises';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';

const parser = new Parser();
let failed = false;
for (const file of process.argv.slice(2)) {
  const text = await readFile(file, 'utf8');
  const { document, diagnostics } = await parser.parse(text, { source: file });
  const errors = diagnostics
    .filter((d) => d.severity === DiagnosticSeverity.Error)
    .map((d) => `${d.path.join('/')}: ${d.message}`);
  const ok = document !== undefined && errors.length === 0;
  failed = failed || !ok;
  console.log(JSON.stringify({
    file, ok, errors,
    warnings: diagnostics.filter((d) => d.severity === DiagnosticSeverity.Warning)
      .map((d) => `${d.path.join('/')}: ${d.message}`),
    version: document ? document.version() : null,
    channels: document ? document.channels().length : 0,
    messages: document ? document.allMessages().length : 0,
  }));
}
process.exit(failed ? 1 : 0);

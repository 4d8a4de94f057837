/* tenbus command-line client: sub-command entry points. Each returns the
 * process exit status. */
#ifndef TB_CLI_H
#define TB_CLI_H

#define CLI_DEFAULT_HTTP_URL "http://127.0.0.1:9502"
#define CLI_DEFAULT_WS_URL   "ws://127.0.0.1:9502"

int cli_cmd_publish(int argc, char **argv);
int cli_cmd_listen(int argc, char **argv);
int cli_cmd_consume(int argc, char **argv);
/* `tenbus publish --bus`: straight to RabbitMQ (publish_bus.c). */
int cli_cmd_publish_bus(int argc, char **argv);
int cli_cmd_docs(int argc, char **argv);       /* docs.c */
int cli_cmd_catalogue(int argc, char **argv);  /* docs.c: catalogue check */

/* Parses a positive number of seconds ("1.5" allowed) into ms; -1 if bad. */
long long cli_parse_seconds(const char *s);

#endif

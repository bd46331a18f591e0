/* Placeholder until the server lands (being written in parallel): --listen is refused. */
#include "server/server.h"

int berth_server_start(const berth_server_config *cfg, berth_server **out, berth_error *err)
{
	(void)cfg;
	*out = NULL;
	return berth_error_set(err, BERTH_EINVALID, "the HTTP listener is not available in this build");
}

int berth_server_port(const berth_server *s)
{
	(void)s;
	return 0;
}

void berth_server_stop(berth_server *s)
{
	(void)s;
}

/* The status page of berth run (GET /): one HTML document drawn from the loop's /status JSON,
 * with no external asset and no script, that refreshes itself every PAGE_REFRESH_S seconds. It
 * shows the source and the commit, the failures, the last reconciles, the plan of the last
 * change, the swarm's services and a node × task map, the Traffic Manager profiles with their
 * endpoints' weights as bars, the scale sets and their instances (marked when they are swarm
 * nodes), the container groups and their containers, and the rollouts with their step, time
 * left and revisions.
 *
 * Every string from the status is HTML-escaped (page_escape); the status never holds a secret,
 * and the page shows nothing the status does not. */
#ifndef BERTH_PAGE_H
#define BERTH_PAGE_H
#include <stddef.h>

#define PAGE_REFRESH_S 10

/* The page (malloc'd) for status_json (a /status document; anything else, even NULL or not
 * JSON, gives a page that says the status could not be read). */
char *page_render(const char *status_json);
/* s with & < > " ' as character references (malloc'd): safe in text and in quoted attributes. */
char *page_escape(const char *s);

#endif

/* unit.h -- the unit test groups; main.c runs them all. */
#ifndef HERD_TEST_UNIT_H
#define HERD_TEST_UNIT_H

int unit_hist(void);
int unit_conf(void);
int unit_url(void);
int unit_http_server(void);
int unit_misc(void);
int unit_load(void);
int unit_balancer(void);
int unit_registry(void);
int unit_plan(void);
int unit_report(void);
int unit_schema(void);
int unit_progress(void);
int unit_store(void);
int unit_dist(void);

#endif

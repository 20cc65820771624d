/* integration.h -- integration test groups (real processes on loopback). */
#ifndef HERD_TEST_INTEGRATION_H
#define HERD_TEST_INTEGRATION_H

int integration_node(void);
int integration_node_cli(void);
int integration_client(void);
int integration_bench(void);
int integration_cluster(void);
int integration_gateway(void);
int integration_backends(void);
int integration_plan(void);
int integration_measure(void);
int integration_lifetime(void);
int integration_bad_input(void);
int integration_walkthrough(void);
int integration_cli(void);
int integration_progress(void);
int integration_dist(void);
int integration_metrics(void);

/* Not a test group: what test_lifetime.c's test_killed_test_leaves_nothing kills. */
int integration_lifetime_victim(void);

#endif

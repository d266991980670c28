/* The VPC Flow Logs roll-up of vpc.c: adds vpcCreate, vpcFeed and vpcFinish to the addon's exports. */
#ifndef BILLWATCH_VPC_H
#define BILLWATCH_VPC_H
#include <node_api.h>
int register_vpc(napi_env env, napi_value exports);
#endif

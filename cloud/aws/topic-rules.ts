// The rule definitions (cloud/rules.ts) as AWS IoT topic rules: the SQL as defined, one action per
// sink kind, the dead-letter queue as every rule's error action, and one IAM role per sink kind
// that may write to that sink and to the dead-letter queue, nothing else.

import { CfnTopicRule } from "aws-cdk-lib/aws-iot";
import { Effect, PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Construct } from "constructs";
import { SQL_VERSION, type RuleDefinition, type SinkKind } from "../rules.ts";
import type { PipelineSinks } from "./sinks.ts";

export class PipelineRules extends Construct {
  readonly rules = new Map<string, CfnTopicRule>();

  constructor(scope: Construct, id: string, props: { definitions: readonly RuleDefinition[]; sinks: PipelineSinks; namePrefix: string }) {
    super(scope, id);
    const { sinks } = props;
    const roles = new Map<SinkKind, Role>();
    const roleFor = (kind: SinkKind): Role => {
      let role = roles.get(kind);
      if (role) return role;
      role = new Role(this, `${kind}-role`, { assumedBy: new ServicePrincipal("iot.amazonaws.com"), description: `IoT rules writing to the ${kind} sink` });
      sinks.deadLetters.grantSendMessages(role);
      if (kind === "telemetry-table") sinks.telemetryTable.grant(role, "dynamodb:PutItem");
      if (kind === "status-table") sinks.statusTable.grant(role, "dynamodb:PutItem");
      if (kind === "alert-topic") sinks.alertTopic.grantPublish(role);
      if (kind === "archive-stream") {
        role.addToPolicy(new PolicyStatement({ effect: Effect.ALLOW, actions: ["firehose:PutRecord", "firehose:PutRecordBatch"], resources: [sinks.archiveStream.attrArn] }));
      }
      roles.set(kind, role);
      return role;
    };
    const action = (kind: SinkKind, roleArn: string): CfnTopicRule.ActionProperty => {
      switch (kind) {
        case "telemetry-table":
          return { dynamoDBv2: { roleArn, putItem: { tableName: sinks.telemetryTable.tableName } } };
        case "status-table":
          return { dynamoDBv2: { roleArn, putItem: { tableName: sinks.statusTable.tableName } } };
        case "alert-topic":
          return { sns: { roleArn, targetArn: sinks.alertTopic.topicArn, messageFormat: "RAW" } };
        case "archive-stream":
          return { firehose: { roleArn, deliveryStreamName: sinks.archiveStream.ref, batchMode: false } };
        case "certificate-deactivation":
          return { lambda: { functionArn: sinks.certificateDeactivator.functionArn } };
      }
    };

    for (const definition of props.definitions) {
      const role = roleFor(definition.sink);
      const rule = new CfnTopicRule(this, definition.name, {
        ruleName: `${props.namePrefix}_${definition.name}`,
        topicRulePayload: {
          sql: definition.sql,
          awsIotSqlVersion: SQL_VERSION,
          description: definition.description,
          ruleDisabled: false,
          actions: [action(definition.sink, role.roleArn)],
          // The error action gets the failure and the original payload (base64): nothing is dropped silently.
          errorAction: { sqs: { roleArn: role.roleArn, queueUrl: sinks.deadLetters.queueUrl, useBase64: false } },
        },
      });
      rule.node.addDependency(role);
      if (definition.sink === "certificate-deactivation")
        sinks.certificateDeactivator.addPermission(`${definition.name}-invoke`, { principal: new ServicePrincipal("iot.amazonaws.com"), sourceArn: rule.attrArn });
      this.rules.set(definition.name, rule);
    }
  }
}

// The whole cloud half in one stack: the fleet (thing type, device and claim policies, provisioning
// template), the sinks, the rules that connect them, and what firmware updates need.

import { CfnOutput, Stack, type StackProps } from "aws-cdk-lib";
import type { Construct } from "constructs";
import { ruleDefinitions } from "../rules.ts";
import { DEFAULT_LAYOUT, checkLayout, type TopicLayout } from "../topics.ts";
import { Fleet } from "./fleet.ts";
import { FirmwareUpdates } from "./firmware-updates.ts";
import { PipelineSinks } from "./sinks.ts";
import { PipelineRules } from "./topic-rules.ts";

export interface PipelineStackProps extends StackProps {
  /** Prefix of every named IoT resource (rules, policies, thing type, template). */
  namePrefix?: string;
  layout?: TopicLayout;
  /** Names of the site levels (provisioning template parameters); default Site, Building, Line. */
  siteLevelNames?: readonly string[];
  claimClientPrefix?: string;
}

export class PipelineStack extends Stack {
  readonly fleet: Fleet;
  readonly sinks: PipelineSinks;
  readonly rules: PipelineRules;
  readonly firmware: FirmwareUpdates;

  constructor(scope: Construct, id: string, props: PipelineStackProps = {}) {
    super(scope, id, props);
    const namePrefix = props.namePrefix ?? "iiot";
    if (!/^[A-Za-z0-9]+$/.test(namePrefix)) throw new Error(`namePrefix must be letters and digits (it starts rule names), got ${namePrefix}`);
    const layout = checkLayout(props.layout ?? DEFAULT_LAYOUT);
    const siteLevelNames = props.siteLevelNames ?? ["Site", "Building", "Line"].slice(0, layout.siteLevels);

    this.fleet = new Fleet(this, "Fleet", { namePrefix, layout, siteLevelNames, claimClientPrefix: props.claimClientPrefix ?? "claim-" });
    this.sinks = new PipelineSinks(this, "Sinks");
    this.rules = new PipelineRules(this, "Rules", { definitions: ruleDefinitions(layout), sinks: this.sinks, namePrefix });
    this.firmware = new FirmwareUpdates(this, "Firmware", { namePrefix });

    new CfnOutput(this, "TelemetryTableName", { value: this.sinks.telemetryTable.tableName });
    new CfnOutput(this, "StatusTableName", { value: this.sinks.statusTable.tableName });
    new CfnOutput(this, "AlertTopicArn", { value: this.sinks.alertTopic.topicArn });
    new CfnOutput(this, "ArchiveBucketName", { value: this.sinks.archiveBucket.bucketName });
    new CfnOutput(this, "DeadLetterQueueUrl", { value: this.sinks.deadLetters.queueUrl });
    new CfnOutput(this, "DevicePolicyName", { value: this.fleet.devicePolicy.policyName! });
    new CfnOutput(this, "ProvisioningTemplateName", { value: this.fleet.template.templateName! });
    // What `npm run ota:job` needs for AWS (--bucket, --role-arn, --template-arn).
    new CfnOutput(this, "FirmwareBucketName", { value: this.firmware.bucket.bucketName });
    new CfnOutput(this, "FirmwareImageRoleArn", { value: this.firmware.imageRole.roleArn });
    new CfnOutput(this, "FirmwareJobTemplateArn", { value: this.firmware.jobTemplate.attrArn });
    new CfnOutput(this, "FirmwareOperatorPolicyArn", { value: this.firmware.operatorPolicy.managedPolicyArn });
  }
}

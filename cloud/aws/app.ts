// The CDK app: `npm run cloud:synth` (offline, no AWS account) or, from cloud/, `npx cdk deploy`.
// Context (-c key=value) sets the stack name, name prefix and topic layout:
//   -c stackName=IiotPipeline -c namePrefix=iiot -c topicPrefix=factory -c siteLevels=3

import { App } from "aws-cdk-lib";
import { DEFAULT_LAYOUT } from "../topics.ts";
import { PipelineStack } from "./pipeline-stack.ts";

const app = new App();
const context = (key: string): string | undefined => app.node.tryGetContext(key);
const siteLevels = context("siteLevels");
new PipelineStack(app, context("stackName") ?? "IiotPipeline", {
  description: "iiot-node cloud pipeline: IoT rules, tables, alerts, archive, fleet provisioning, firmware updates",
  namePrefix: context("namePrefix"),
  layout: { prefix: context("topicPrefix") ?? DEFAULT_LAYOUT.prefix, siteLevels: siteLevels === undefined ? DEFAULT_LAYOUT.siteLevels : Number(siteLevels) },
  // Deploys into the account and region of the CLI's credentials; synthesis needs neither.
  env: process.env.CDK_DEFAULT_ACCOUNT ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION } : undefined,
});
app.synth();

// The IoT policy every device certificate gets, from DEVICE_GRANTS (cloud/topics.ts) with policy
// variables: one policy for the whole fleet, and each connection may act only as its own thing.
//
// The topic root comes from the thing attribute `topicRoot` (set by the provisioning template,
// which builds it from the site levels and the thing name), not from a wildcard over the site
// path: a wildcard like `factory/*/press-7/*` would let press-7 publish under any site's press-7,
// and `*` in a policy also spans `/`, so it would not even pin the number of levels.

import { Stack } from "aws-cdk-lib";
import { DEVICE_GRANTS, type TopicGrant } from "../topics.ts";

export const THING_NAME = "${iot:Connection.Thing.ThingName}";
export const TOPIC_ROOT_ATTRIBUTE = "topicRoot";
export const TOPIC_ROOT = `\${iot:Connection.Thing.Attributes[${TOPIC_ROOT_ATTRIBUTE}]}`;

interface PolicyStatement {
  Effect: "Allow";
  Action: string[];
  Resource: string[];
  Condition?: Record<string, Record<string, string>>;
}

function fill(grant: TopicGrant): string {
  return grant.topic.replaceAll("{root}", TOPIC_ROOT).replaceAll("{thing}", THING_NAME);
}

/**
 * A topic filter as the topics it lets a device receive or publish: in a policy `+` and `#` are
 * literal characters, and the policy wildcard `*` stands for them.
 */
function asTopicPattern(filter: string): string {
  return filter.replaceAll("+", "*").replace(/#$/, "*");
}

export function devicePolicyDocument(stack: Stack): { Version: string; Statement: PolicyStatement[] } {
  const arn = (resource: string) => stack.formatArn({ service: "iot", resource });
  const grants = DEVICE_GRANTS;
  const publish = grants.filter((g) => g.action === "publish");
  const subscribe = grants.filter((g) => g.action === "subscribe");
  return {
    Version: "2012-10-17",
    Statement: [
      {
        // Client id = thing name, and only with a certificate attached to that thing.
        Effect: "Allow",
        Action: ["iot:Connect"],
        Resource: [arn(`client/${THING_NAME}`)],
        Condition: { Bool: { "iot:Connection.Thing.IsAttached": "true" } },
      },
      { Effect: "Allow", Action: ["iot:Publish"], Resource: publish.map((g) => arn(`topic/${asTopicPattern(fill(g))}`)) },
      // Retained publishes (the status topic, and its will) need their own permission.
      { Effect: "Allow", Action: ["iot:RetainPublish"], Resource: publish.filter((g) => g.retain).map((g) => arn(`topic/${fill(g)}`)) },
      // Subscribe is checked against the filter as the device sends it, where `+` and `#` are
      // literal characters: with `*` in their place a grant covers both a filter that names one
      // level (a stream id, `config/get/accepted`) and one that keeps the wildcard (`jobs/+/update/accepted`).
      // Receive is checked per topic.
      { Effect: "Allow", Action: ["iot:Subscribe"], Resource: subscribe.map((g) => arn(`topicfilter/${asTopicPattern(fill(g))}`)) },
      { Effect: "Allow", Action: ["iot:Receive"], Resource: subscribe.map((g) => arn(`topic/${asTopicPattern(fill(g))}`)) },
    ],
  };
}

/** The claim certificate's policy for fleet provisioning: only the certificate and provisioning APIs. */
export function claimPolicyDocument(stack: Stack, templateName: string, claimClientPrefix: string) {
  const arn = (resource: string) => stack.formatArn({ service: "iot", resource });
  const topics = ["$aws/certificates/create/json", `$aws/provisioning-templates/${templateName}/provision/json`];
  const replies = topics.flatMap((t) => [`${t}/accepted`, `${t}/rejected`]);
  return {
    Version: "2012-10-17",
    Statement: [
      // Claim connections use their own client id prefix, so a claim can never take a device's id.
      { Effect: "Allow", Action: ["iot:Connect"], Resource: [arn(`client/${claimClientPrefix}*`)] },
      { Effect: "Allow", Action: ["iot:Publish"], Resource: topics.map((t) => arn(`topic/${t}`)) },
      { Effect: "Allow", Action: ["iot:Subscribe"], Resource: replies.map((t) => arn(`topicfilter/${t}`)) },
      { Effect: "Allow", Action: ["iot:Receive"], Resource: replies.map((t) => arn(`topic/${t}`)) },
    ],
  };
}

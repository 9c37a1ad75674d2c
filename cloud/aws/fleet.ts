// What devices are in AWS IoT: a thing type, the device policy, and fleet provisioning by claim (a
// template that creates the thing with its `topicRoot` attribute, and the claim certificate's
// policy), ready for the provisioning work that comes later.

import { Stack } from "aws-cdk-lib";
import { ManagedPolicy, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { CfnPolicy, CfnProvisioningTemplate, CfnThingType } from "aws-cdk-lib/aws-iot";
import { Construct } from "constructs";
import type { TopicLayout } from "../topics.ts";
import { TOPIC_ROOT_ATTRIBUTE, claimPolicyDocument, devicePolicyDocument } from "./device-policy.ts";

export interface FleetProps {
  namePrefix: string;
  layout: TopicLayout;
  /** Provisioning template parameter names for the site levels, in topic order. */
  siteLevelNames: readonly string[];
  /** Client id prefix claim connections must use (a thing name must not start with it). */
  claimClientPrefix: string;
}

export class Fleet extends Construct {
  readonly thingType: CfnThingType;
  readonly devicePolicy: CfnPolicy;
  readonly claimPolicy: CfnPolicy;
  readonly template: CfnProvisioningTemplate;

  constructor(scope: Construct, id: string, props: FleetProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { namePrefix, layout, siteLevelNames } = props;
    if (siteLevelNames.length !== layout.siteLevels) throw new Error(`siteLevelNames has ${siteLevelNames.length} names for ${layout.siteLevels} site levels`);

    this.thingType = new CfnThingType(this, "ThingType", {
      thingTypeName: `${namePrefix}-sensor-node`,
      thingTypeProperties: {
        thingTypeDescription: "ESP32 industrial sensor node (iiot-node firmware): batched telemetry over mutual-TLS MQTT",
        searchableAttributes: [TOPIC_ROOT_ATTRIBUTE],
      },
    });
    this.devicePolicy = new CfnPolicy(this, "DevicePolicy", { policyName: `${namePrefix}-device`, policyDocument: devicePolicyDocument(stack) });

    const templateName = `${namePrefix}-fleet`;
    this.claimPolicy = new CfnPolicy(this, "ClaimPolicy", {
      policyName: `${namePrefix}-claim`,
      policyDocument: claimPolicyDocument(stack, templateName, props.claimClientPrefix),
    });
    const provisioningRole = new Role(this, "ProvisioningRole", {
      assumedBy: new ServicePrincipal("iot.amazonaws.com"),
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName("service-role/AWSIoTThingsRegistration")],
    });
    // The thing's topic root is built here from the site levels and the thing name, so it always
    // ends with the thing's own name: the device policy trusts this attribute.
    const root = { "Fn::Join": ["/", [layout.prefix, ...siteLevelNames.map((name) => ({ Ref: name })), { Ref: "ThingName" }, ""]] };
    const parameters: Record<string, { Type: string }> = { ThingName: { Type: "String" }, "AWS::IoT::Certificate::Id": { Type: "String" } };
    for (const name of siteLevelNames) parameters[name] = { Type: "String" };
    const body = {
      Parameters: parameters,
      Resources: {
        thing: {
          Type: "AWS::IoT::Thing",
          Properties: {
            ThingName: { Ref: "ThingName" },
            ThingTypeName: this.thingType.thingTypeName,
            AttributePayload: { [TOPIC_ROOT_ATTRIBUTE]: root },
          },
        },
        certificate: { Type: "AWS::IoT::Certificate", Properties: { CertificateId: { Ref: "AWS::IoT::Certificate::Id" }, Status: "Active" } },
        policy: { Type: "AWS::IoT::Policy", Properties: { PolicyName: this.devicePolicy.policyName } },
      },
    };
    this.template = new CfnProvisioningTemplate(this, "ProvisioningTemplate", {
      templateName,
      description: "Creates a sensor node's thing (with its topicRoot) and activates its certificate with the device policy",
      enabled: true,
      provisioningRoleArn: provisioningRole.roleArn,
      templateBody: JSON.stringify(body),
    });
    this.template.addResourceDependency(this.thingType);
    this.template.addResourceDependency(this.devicePolicy);
  }
}

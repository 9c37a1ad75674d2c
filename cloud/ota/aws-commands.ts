// The AWS CLI commands that release a signed update, as text to run (this project has no AWS SDK
// dependency and no account to run them against): upload the image (its S3 version id pins what the
// stream serves), create the stream (MQTT-based file delivery), upload the job document and create
// the job from the stack's job template (FirmwareJobTemplateArn) with that document. With
// `presigned`, the document names the image by an S3 presigned-URL placeholder instead of a stream,
// which AWS IoT fills with the template's presignedUrlConfig role when a device fetches the job.

import { basename } from "node:path";

export interface AwsRelease {
  imagePath: string;
  documentPath: string;
  version: string;
  jobId: string;
  streamId: string;
  bucket: string;
  imageRoleArn: string;
  templateArn: string;
  target: { thing: string } | { thingGroup: string };
  presigned: boolean;
}

/** A shell word: single-quoted unless plainly safe. */
export const shellWord = (text: string): string => (/^[A-Za-z0-9_./:=@%+,-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`);

export function imageKey(version: string, imagePath: string): string {
  return `images/${version}/${basename(imagePath)}`;
}

export function documentKey(jobId: string): string {
  return `jobs/${jobId}.json`;
}

/** The presigned-URL placeholder AWS IoT Jobs replaces when a device fetches the document. */
export function presignedPlaceholder(bucket: string, key: string): string {
  return `\${aws:iot:s3-presigned-url:https://s3.amazonaws.com/${bucket}/${key}}`;
}

export function awsCommands(r: AwsRelease): string[] {
  const q = shellWord;
  const key = imageKey(r.version, r.imagePath);
  const lines = [`# 1. the image; its S3 version id pins what the stream serves`];
  lines.push(`IMAGE_VERSION=$(aws s3api put-object --bucket ${q(r.bucket)} --key ${q(key)} --body ${q(r.imagePath)} --query VersionId --output text)`);
  if (!r.presigned) {
    lines.push(`# 2. the stream: file 0 is the image, read by AWS IoT with the image role`);
    const files = `[{"fileId":0,"s3Location":{"bucket":"${r.bucket}","key":"${key}","version":"'"$IMAGE_VERSION"'"}}]`;
    lines.push(`aws iot create-stream --stream-id ${q(r.streamId)} --description ${q(`iiot-node firmware ${r.version}`)} --role-arn ${q(r.imageRoleArn)} --files '${files}'`);
  }
  lines.push(`# ${r.presigned ? 2 : 3}. the job document, and the job from the template (its rollout, abort, timeout and presigned URL settings)`);
  lines.push(`aws s3 cp ${q(r.documentPath)} ${q(`s3://${r.bucket}/${documentKey(r.jobId)}`)}`);
  const target =
    "thing" in r.target
      ? `"$(aws iot describe-thing --thing-name ${q(r.target.thing)} --query thingArn --output text)"`
      : `"$(aws iot describe-thing-group --thing-group-name ${q(r.target.thingGroup)} --query thingGroupArn --output text)"`;
  lines.push(
    `aws iot create-job --job-id ${q(r.jobId)} --targets ${target} --job-template-arn ${q(r.templateArn)} --document-source ${q(`https://s3.amazonaws.com/${r.bucket}/${documentKey(r.jobId)}`)}`,
  );
  lines.push(`# follow it: aws iot describe-job --job-id ${q(r.jobId)}; aws iot list-job-executions-for-job --job-id ${q(r.jobId)}`);
  return lines;
}

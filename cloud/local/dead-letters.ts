// Dead letters: what the rules' error action sends to SQS in AWS, here one JSON line per failure in
// a file, with the same fields (rule, topic, the original payload in base64, what failed and why).

import { appendFile, mkdir } from "node:fs/promises";
import { dirname } from "node:path";

export interface DeadLetter {
  ruleName: string;
  topic: string;
  clientId?: string;
  base64OriginalPayload: string;
  failures: { failedAction: string; failedResource: string; errorMessage: string }[];
  received_at: number;
}

export interface DeadLetters {
  readonly path: string;
  write(letter: DeadLetter): Promise<void>;
}

export function deadLetterFile(path: string): DeadLetters {
  return {
    path,
    async write(letter) {
      await mkdir(dirname(path), { recursive: true });
      await appendFile(path, `${JSON.stringify(letter)}\n`);
    },
  };
}

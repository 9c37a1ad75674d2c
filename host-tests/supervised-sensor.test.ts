// supervisedSensor: the node's guard around every driver (src/app.ts).

import { test } from "node:test";
import assert from "node:assert/strict";
import { supervisedSensor } from "../src/app.ts";

test("a sensor that cannot start is absent and retried; one whose driver throws is bad, never an exception", () => {
  const log: string[] = [];
  let attempts = 0;
  let fail = true;
  const sensor = supervisedSensor("foo", ["level"], () => {
    attempts++;
    if (attempts < 3) throw new Error("no chip");
    return {
      sample: () => {
        if (fail) throw new Error("driver bug");
        return { quality: "good", values: { level: 1 } };
      },
      close: () => log.push("closed"),
    };
  }, (line) => log.push(line), 2);
  assert.deepEqual(sensor.sample(), { quality: "bad", reason: "absent", values: {} });
  sensor.sample(); // second retry attempt happens here and fails again
  sensor.sample();
  sensor.sample(); // third attempt starts it
  assert.equal(attempts, 3);
  assert.deepEqual(sensor.sample(), { quality: "bad", reason: "driver", values: {} });
  fail = false;
  assert.deepEqual(sensor.sample(), { quality: "good", values: { level: 1 } });
  sensor.close();
  assert.ok(log.includes("closed"));
  assert.ok(log.some((l) => /foo: sample failed \(driver bug\)/.test(l)), log.join("\n"));
  assert.ok(log.some((l) => /foo: cannot start \(no chip\); retrying every 2 samples/.test(l)));
});

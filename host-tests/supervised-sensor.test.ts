// supervisedSensor: the node's guard around every driver (src/app.ts).

import { test, expect } from "vitest";
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
  expect(sensor.sample()).toStrictEqual({ quality: "bad", reason: "absent", values: {} });
  sensor.sample(); // second retry attempt happens here and fails again
  sensor.sample();
  sensor.sample(); // third attempt starts it
  expect(attempts).toBe(3);
  expect(sensor.sample()).toStrictEqual({ quality: "bad", reason: "driver", values: {} });
  fail = false;
  expect(sensor.sample()).toStrictEqual({ quality: "good", values: { level: 1 } });
  sensor.close();
  expect(log.includes("closed")).toBeTruthy();
  expect(log.some((l) => /foo: sample failed \(driver bug\)/.test(l)), log.join("\n")).toBeTruthy();
  expect(log.some((l) => /foo: cannot start \(no chip\); retrying every 2 samples/.test(l))).toBeTruthy();
});

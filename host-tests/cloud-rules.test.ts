// The rule definitions (cloud/rules.ts) against the firmware's own topic convention: every rule's
// filter matches the topics the firmware publishes on, names are valid AWS rule names, no rule
// listens on `#`, and every sink kind is fed.

import { readFileSync } from "node:fs";
import { test, expect } from "vitest";
import { ruleDefinitions, ruleTopicFilters } from "../cloud/rules.ts";
import { DEFAULT_LAYOUT, kindFilter, thingLevel, topicMatches, topicRoot, MESSAGE_KINDS } from "../cloud/topics.ts";

const manifest = JSON.parse(readFileSync(new URL("../manifest.json", import.meta.url), "utf8")) as { config: { thing: string; topic_root: string } };

test("the firmware's default topic root follows the default layout, thing name last", () => {
  const { thing, topic_root } = manifest.config;
  const site = topic_root.split("/").slice(1, -2);
  expect(topicRoot(DEFAULT_LAYOUT, site, thing)).toBe(topic_root);
  expect(topic_root.split("/")[thingLevel(DEFAULT_LAYOUT) - 1]).toBe(thing);
});

test("every rule's filter matches the firmware's topic for its kind and no other kind", () => {
  const root = manifest.config.topic_root;
  for (const rule of ruleDefinitions()) {
    for (const kind of MESSAGE_KINDS) expect(topicMatches(rule.topicFilter, `${root}${kind}`), `${rule.name} on ${kind}`).toBe(kind === rule.kind);
    expect(rule.sql).toContain(`FROM '${rule.topicFilter}'`);
    expect(rule.topicFilter).not.toContain("#");
  }
});

test("rule names are unique AWS rule names and every sink kind has a rule", () => {
  const rules = ruleDefinitions();
  const names = rules.map((r) => r.name);
  expect(new Set(names).size).toBe(names.length);
  for (const name of names) expect(name).toMatch(/^[A-Za-z0-9_]{1,128}$/);
  expect(new Set(rules.map((r) => r.sink))).toStrictEqual(new Set(["telemetry-table", "status-table", "alert-topic", "archive-stream", "certificate-deactivation"]));
  expect(ruleTopicFilters(rules).sort()).toStrictEqual(MESSAGE_KINDS.map((k) => kindFilter(DEFAULT_LAYOUT, k)).sort());
});

test("another layout moves every filter and the thing level the rules check", () => {
  const layout = { prefix: "plant", siteLevels: 1 };
  for (const rule of ruleDefinitions(layout)) {
    expect(rule.topicFilter).toBe(`plant/+/+/${rule.kind}`);
    if (rule.sql.includes("WHERE device = ")) expect(rule.sql).toContain("device = topic(3)");
  }
  expect(() => ruleDefinitions({ prefix: "a/b", siteLevels: 1 })).toThrow(/one plain topic level/);
  expect(() => ruleDefinitions({ prefix: "plant", siteLevels: 4 })).toThrow(/siteLevels/);
});

test("topic filter matching follows MQTT 3.1.1", () => {
  expect(topicMatches("a/+/c", "a/b/c")).toBe(true);
  expect(topicMatches("a/+/c", "a/b/d")).toBe(false);
  expect(topicMatches("a/+", "a/b/c")).toBe(false);
  expect(topicMatches("a/#", "a")).toBe(true);
  expect(topicMatches("a/#", "a/b/c")).toBe(true);
  expect(topicMatches("a/b", "a")).toBe(false);
  expect(topicMatches("+/b", "$SYS/b"), "wildcards do not match $ topics").toBe(false);
  expect(topicMatches("$aws/things/x/shadow/#", "$aws/things/x/shadow/update")).toBe(true);
});

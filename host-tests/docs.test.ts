// The Markdown files are the project's front door and design notes: every relative link resolves,
// and none points outside the repository or at issue numbers a reader cannot see.

import { test, expect } from "vitest";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const SKIP = new Set(["node_modules", ".git", ".state", "reports", "coverage", "cdk.out", ".stryker-tmp"]);

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (SKIP.has(entry.name) || entry.name.startsWith(".stryker-tmp")) return [];
    const path = join(dir, entry.name);
    return entry.isDirectory() ? markdownFiles(path) : entry.name.endsWith(".md") ? [path] : [];
  });
}

/** Relative link targets in a Markdown text, without their #fragment. */
export function relativeLinks(markdown: string): string[] {
  const links: string[] = [];
  for (const [, target] of markdown.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/i.test(target) || target.startsWith("#")) continue;
    links.push(target.split("#")[0]);
  }
  return links;
}

const files = markdownFiles(root);

test("docs: the front door and design notes exist", () => {
  for (const f of ["README.md", "LICENSE", "docs/workload.md", "docs/mqtt-session.md", "docs/telemetry.md", "src/log/FORMAT.md"])
    expect(existsSync(join(root, f)), f).toBe(true);
});

test("docs: every relative link in every Markdown file resolves inside the repository", () => {
  const broken: string[] = [];
  for (const file of files) {
    for (const link of relativeLinks(readFileSync(file, "utf8"))) {
      const target = resolve(dirname(file), decodeURIComponent(link));
      const where = relative(root, file);
      if (relative(root, target).startsWith("..")) broken.push(`${where}: ${link} leaves the repository`);
      else if (!existsSync(target)) broken.push(`${where}: ${link} does not exist`);
    }
  }
  expect(broken).toStrictEqual([]);
  expect(files.length).toBeGreaterThan(5);
});

test("docs: no Markdown file cites files outside the repository or issue numbers", () => {
  const found: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/\.\.\/shared\/|\bissues? \d+/gi)) found.push(`${relative(root, file)}: ${m[0]}`);
  }
  expect(found).toStrictEqual([]);
});

test("docs: the link finder sees links and skips URLs and anchors", () => {
  expect(relativeLinks("[a](docs/x.md#y) [b](https://e.org) [c](#here) [d](../z.md)")).toStrictEqual(["docs/x.md", "../z.md"]);
});

// The Markdown files are the project's front door and design notes: every relative link resolves,
// and none points outside the repository or at issue numbers a reader cannot see; a link to a
// heading names one that exists.

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

/** Relative link targets in a Markdown text, with their #fragment if any (URLs left out). */
export function relativeLinks(markdown: string): string[] {
  const links: string[] = [];
  for (const [, target] of markdown.matchAll(/\]\(([^)\s]+)\)/g)) if (!/^[a-z]+:/i.test(target)) links.push(target);
  return links;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingAnchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/`/g, "").replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-");
}

function anchors(markdown: string): Set<string> {
  const outsideCode = markdown.replace(/^```[\s\S]*?^```/gm, "");
  return new Set([...outsideCode.matchAll(/^#{1,6} (.+)$/gm)].map(([, heading]) => headingAnchor(heading)));
}

const files = markdownFiles(root);

test("docs: the front door and design notes exist", () => {
  for (const f of ["README.md", "LICENSE", "docs/workload.md", "docs/mqtt-session.md", "docs/telemetry.md", "src/log/FORMAT.md"])
    expect(existsSync(join(root, f)), f).toBe(true);
});

test("docs: every relative link in every Markdown file resolves inside the repository", () => {
  const broken: string[] = [];
  for (const file of files) {
    const where = relative(root, file);
    for (const link of relativeLinks(readFileSync(file, "utf8"))) {
      const [path, fragment] = link.split("#");
      const target = path === "" ? file : resolve(dirname(file), decodeURIComponent(path));
      if (relative(root, target).startsWith("..")) broken.push(`${where}: ${link} leaves the repository`);
      else if (!existsSync(target)) broken.push(`${where}: ${link} does not exist`);
      else if (fragment !== undefined && target.endsWith(".md") && !anchors(readFileSync(target, "utf8")).has(fragment))
        broken.push(`${where}: ${link} names no heading of ${relative(root, target)}`);
    }
  }
  expect(broken).toStrictEqual([]);
  expect(files.length).toBeGreaterThan(5);
});

test("docs: no Markdown file cites files outside the repository or issue numbers", () => {
  const found: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/\.\.\/shared\/|\/work\/|\bissues? #?\d+/gi)) found.push(`${relative(root, file)}: ${m[0]}`);
  }
  expect(found).toStrictEqual([]);
});

test("docs: no source file cites the reference workload outside the repository", () => {
  const sources = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      if (SKIP.has(entry.name) || entry.name.startsWith(".")) return [];
      const path = join(dir, entry.name);
      return entry.isDirectory() ? sources(path) : /\.(ts|mjs|json|sh|md)$/.test(entry.name) && entry.name !== "package-lock.json" ? [path] : [];
    });
  const found = sources(root).filter((file) => /\.\.\/shared\/|\bshared\/workload\.md/.test(readFileSync(file, "utf8")));
  expect(found.map((file) => relative(root, file))).toStrictEqual([]);
});

test("docs: the link finder sees links and skips URLs; anchors are GitHub's", () => {
  expect(relativeLinks("[a](docs/x.md#y) [b](https://e.org) [c](#here) [d](../z.md)")).toStrictEqual(["docs/x.md#y", "#here", "../z.md"]);
  expect(headingAnchor("Deploying to AWS IoT Core")).toBe("deploying-to-aws-iot-core");
  expect(headingAnchor("Payloads (schema 1)")).toBe("payloads-schema-1");
  expect(headingAnchor("`npm start`, what it prints")).toBe("npm-start-what-it-prints");
});

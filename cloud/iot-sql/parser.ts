// A recursive-descent parser for the IoT SQL subset the rules use:
//   SELECT [VALUE] (* | expr [AS name]) [, ...] FROM 'topic/filter' [WHERE expr]
// with nested SELECTs over arrays in parentheses, `a.b.c` and `a[0]` paths, function calls,
// comparisons, AND/OR/NOT and arithmetic. Anything outside the subset is a syntax error, so a rule
// that uses more than the evaluator knows fails its tests instead of being half-evaluated.

import type { BinaryOp, Expr, Query, SelectItem } from "./ast.ts";
import { FUNCTIONS } from "./functions.ts";
import { IotSqlSyntaxError, tokenize, type Token } from "./lexer.ts";

const KEYWORDS = new Set(["SELECT", "VALUE", "FROM", "WHERE", "AS", "AND", "OR", "NOT", "TRUE", "FALSE", "NULL"]);
const COMPARISONS: Record<string, BinaryOp> = { "=": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">=" };

export function parse(sql: string): Query {
  const tokens = tokenize(sql);
  let pos = 0;
  const peek = (): Token => tokens[pos];
  const fail = (message: string): never => {
    throw new IotSqlSyntaxError(message, sql, peek().at);
  };
  const isKeyword = (word: string, t: Token = peek()) => t.kind === "identifier" && t.text.toUpperCase() === word;
  const isSymbol = (text: string, t: Token = peek()) => t.kind === "symbol" && t.text === text;
  const keyword = (word: string) => (isKeyword(word) ? (pos++, true) : false);
  const symbol = (text: string) => (isSymbol(text) ? (pos++, true) : false);
  const expectKeyword = (word: string) => keyword(word) || fail(`expected ${word}`);
  const expectSymbol = (text: string) => symbol(text) || fail(`expected "${text}"`);
  const name = (): string => {
    const t = peek();
    if (t.kind !== "identifier" || KEYWORDS.has(t.text.toUpperCase())) return fail("expected a name");
    pos++;
    return t.text;
  };

  function query(nested: boolean): Query {
    expectKeyword("SELECT");
    const value = keyword("VALUE");
    const items: SelectItem[] = [];
    do items.push(selectItem(value));
    while (symbol(","));
    if (value && items.length !== 1) fail("SELECT VALUE takes exactly one expression");
    expectKeyword("FROM");
    let from: Query["from"];
    if (nested) from = { type: "expr", expr: expression() };
    else {
      const t = peek();
      if (t.kind !== "string") return fail("expected a quoted topic filter after FROM");
      pos++;
      from = { type: "topic", filter: t.value };
    }
    const where = keyword("WHERE") ? expression() : undefined;
    return { value, items, from, where };
  }

  function selectItem(value: boolean): SelectItem {
    if (!value && isSymbol("*")) {
      pos++;
      return { type: "star" };
    }
    const expr = expression();
    if (keyword("AS")) return { type: "expr", expr, name: name() };
    // Without AS a path keeps its last name (`a.b` -> "b"); anything else must be named.
    if (expr.type === "field") return { type: "expr", expr, name: expr.name };
    if (expr.type === "member") return { type: "expr", expr, name: expr.key };
    if (value) return { type: "expr", expr, name: "" };
    return fail("name this expression with AS");
  }

  function expression(): Expr {
    return or();
  }
  function or(): Expr {
    let left = and();
    while (keyword("OR")) left = { type: "binary", op: "OR", left, right: and() };
    return left;
  }
  function and(): Expr {
    let left = not();
    while (keyword("AND")) left = { type: "binary", op: "AND", left, right: not() };
    return left;
  }
  function not(): Expr {
    return keyword("NOT") ? { type: "not", operand: not() } : comparison();
  }
  function comparison(): Expr {
    const left = additive();
    const t = peek();
    const op = t.kind === "symbol" ? COMPARISONS[t.text] : undefined;
    if (!op) return left;
    pos++;
    return { type: "binary", op, left, right: additive() };
  }
  function additive(): Expr {
    let left = multiplicative();
    for (;;) {
      const op = isSymbol("+") ? "+" : isSymbol("-") ? "-" : undefined;
      if (!op) return left;
      pos++;
      left = { type: "binary", op, left, right: multiplicative() };
    }
  }
  function multiplicative(): Expr {
    let left = unary();
    for (;;) {
      const op = isSymbol("*") ? "*" : isSymbol("/") ? "/" : isSymbol("%") ? "%" : undefined;
      if (!op) return left;
      pos++;
      left = { type: "binary", op, left, right: unary() };
    }
  }
  function unary(): Expr {
    return symbol("-") ? { type: "negate", operand: unary() } : postfix(primary());
  }
  function postfix(expr: Expr): Expr {
    for (;;) {
      if (symbol(".")) expr = { type: "member", object: expr, key: name() };
      else if (symbol("[")) {
        const index = expression();
        expectSymbol("]");
        expr = { type: "index", object: expr, index };
      } else return expr;
    }
  }
  function primary(): Expr {
    const t = peek();
    if (t.kind === "number") return (pos++, { type: "literal", value: t.value });
    if (t.kind === "string") return (pos++, { type: "literal", value: t.value });
    if (symbol("(")) {
      const inner: Expr = isKeyword("SELECT") ? { type: "subquery", query: query(true) } : expression();
      expectSymbol(")");
      return inner;
    }
    if (symbol("[")) {
      const items: Expr[] = [];
      if (!symbol("]")) {
        do items.push(expression());
        while (symbol(","));
        expectSymbol("]");
      }
      return { type: "array", items };
    }
    if (symbol("{")) {
      const entries: Array<[string, Expr]> = [];
      if (!symbol("}")) {
        do {
          const key = peek();
          if (key.kind !== "string") return fail("expected a quoted key");
          pos++;
          expectSymbol(":");
          entries.push([key.value, expression()]);
        } while (symbol(","));
        expectSymbol("}");
      }
      return { type: "object", entries };
    }
    if (keyword("TRUE")) return { type: "literal", value: true };
    if (keyword("FALSE")) return { type: "literal", value: false };
    if (keyword("NULL")) return { type: "literal", value: null };
    const id = name();
    if (!symbol("(")) return { type: "field", name: id };
    const fn = id.toLowerCase();
    if (!(fn in FUNCTIONS)) return fail(`function ${id}() is not supported by this evaluator`);
    const args: Expr[] = [];
    if (!symbol(")")) {
      do args.push(expression());
      while (symbol(","));
      expectSymbol(")");
    }
    return { type: "call", name: fn, args };
  }

  const result = query(false);
  if (peek().kind !== "end") fail("unexpected text after the statement");
  return result;
}

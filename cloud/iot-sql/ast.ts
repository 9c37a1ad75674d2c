// The syntax tree of a parsed IoT SQL statement.

export type Value = undefined | null | boolean | number | string | Value[] | { [key: string]: Value };

export type Expr =
  | { type: "literal"; value: Value }
  /** JSON-style literals: `[1, x]`, `{"a": x}`. */
  | { type: "array"; items: Expr[] }
  | { type: "object"; entries: Array<[string, Expr]> }
  /** A field of the current document: the payload, or the array element in a nested SELECT. */
  | { type: "field"; name: string }
  | { type: "member"; object: Expr; key: string }
  | { type: "index"; object: Expr; index: Expr }
  | { type: "call"; name: string; args: Expr[] }
  | { type: "not"; operand: Expr }
  | { type: "negate"; operand: Expr }
  | { type: "binary"; op: BinaryOp; left: Expr; right: Expr }
  | { type: "subquery"; query: Query };

export type BinaryOp = "AND" | "OR" | "=" | "<>" | "<" | "<=" | ">" | ">=" | "+" | "-" | "*" | "/" | "%";

export type SelectItem = { type: "star" } | { type: "expr"; expr: Expr; name: string };

export interface Query {
  /** SELECT VALUE: the output is the one item's value, not an object. */
  value: boolean;
  items: SelectItem[];
  /** A topic filter at the top level; an expression (an array in the document) in a nested SELECT. */
  from: { type: "topic"; filter: string } | { type: "expr"; expr: Expr };
  where?: Expr;
}

// Tokens of AWS IoT SQL (the subset cloud/iot-sql/ evaluates). Keywords are recognised by the
// parser, case-insensitively, from identifier tokens.

export type Token =
  | { kind: "identifier"; text: string; at: number }
  | { kind: "number"; value: number; text: string; at: number }
  | { kind: "string"; value: string; at: number }
  | { kind: "symbol"; text: string; at: number }
  | { kind: "end"; at: number };

export class IotSqlSyntaxError extends Error {
  constructor(message: string, sql: string, at: number) {
    super(`${message} at ${at}: ${sql.slice(Math.max(0, at - 20), at)}>>${sql.slice(at, at + 20)}`);
    this.name = "IotSqlSyntaxError";
  }
}

const SYMBOLS = ["<>", "!=", "<=", ">=", "(", ")", ",", ".", "[", "]", "{", "}", ":", "*", "+", "-", "/", "%", "=", "<", ">"];

export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const at = i;
    if (c === "'" || c === '"') {
      // Both quotes make string literals; a backslash escapes the next character.
      let value = "";
      i++;
      while (i < sql.length && sql[i] !== c) {
        if (sql[i] === "\\" && i + 1 < sql.length) i++;
        value += sql[i++];
      }
      if (i >= sql.length) throw new IotSqlSyntaxError("unterminated string", sql, at);
      i++;
      tokens.push({ kind: "string", value, at });
      continue;
    }
    if (/[0-9]/.test(c)) {
      const match = /^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(sql.slice(i))!;
      tokens.push({ kind: "number", value: Number(match[0]), text: match[0], at });
      i += match[0].length;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i))!;
      tokens.push({ kind: "identifier", text: match[0], at });
      i += match[0].length;
      continue;
    }
    const symbol = SYMBOLS.find((s) => sql.startsWith(s, i));
    if (!symbol) throw new IotSqlSyntaxError(`unexpected character ${JSON.stringify(c)}`, sql, at);
    tokens.push({ kind: "symbol", text: symbol, at });
    i += symbol.length;
  }
  tokens.push({ kind: "end", at: sql.length });
  return tokens;
}

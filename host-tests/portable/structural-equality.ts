// Structural equality for the portable suites on XS, with the semantics of vitest's toStrictEqual:
// same prototype, same own keys (an undefined-valued key is not a missing one), Object.is for
// primitives (NaN equals NaN, 0 is not -0), Maps and Sets by content, typed arrays element by element.

export function structurallyEqual(a: unknown, b: unknown, seen: [object, object][] = []): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (seen.some(([x, y]) => x === a && y === b)) return true; // a cycle already being compared
  seen = [...seen, [a, b]];
  if (a instanceof Date) return Object.is(a.getTime(), (b as Date).getTime());
  if (a instanceof RegExp) return String(a) === String(b);
  if (a instanceof Error && (a.name !== (b as Error).name || a.message !== (b as Error).message)) return false;
  if (ArrayBuffer.isView(a)) {
    const x = a as unknown as ArrayLike<unknown>;
    const y = b as unknown as ArrayLike<unknown>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    return true;
  }
  if (a instanceof Map) {
    const other = b as Map<unknown, unknown>;
    if (a.size !== other.size) return false;
    for (const [key, value] of a) {
      if (other.has(key)) {
        if (!structurallyEqual(value, other.get(key), seen)) return false;
      } else if (![...other].some(([k, v]) => structurallyEqual(key, k, seen) && structurallyEqual(value, v, seen))) return false;
    }
    return true;
  }
  if (a instanceof Set) {
    const other = b as Set<unknown>;
    if (a.size !== other.size) return false;
    for (const member of a) if (!other.has(member) && ![...other].some((m) => structurallyEqual(member, m, seen))) return false;
    return true;
  }
  const keysA = Reflect.ownKeys(a).filter((k) => Object.prototype.propertyIsEnumerable.call(a, k));
  const keysB = Reflect.ownKeys(b).filter((k) => Object.prototype.propertyIsEnumerable.call(b, k));
  if (keysA.length !== keysB.length) return false;
  for (const key of keysA) {
    if (!Object.prototype.hasOwnProperty.call(b, key)) return false;
    if (!structurallyEqual((a as Record<PropertyKey, unknown>)[key], (b as Record<PropertyKey, unknown>)[key], seen)) return false;
  }
  return true;
}

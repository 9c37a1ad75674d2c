// The device certificate's expiry for the heartbeat (`cert_days_left`) and a warning event from 30
// days out, repeated once a day while it lasts: an operator sees it coming and rotates the identity
// (the `rotate` path of provisioning.ts). Needs a set clock; before SNTP the days are unknown, not
// wrong. Pure: runs on XS unchanged.

import { certificateValidity } from "./der";

export const WARN_DAYS = 30;
const DAY_MS = 86_400_000;

export interface ExpiryWarning {
  event: "certificate-expiring" | "certificate-expired";
  days_left: number;
  /** notAfter, ISO 8601. */
  not_after: string;
}

/** Whole days left (negative once expired; 0 on the last day). */
export function daysLeft(notAfterMs: number, nowMs: number): number {
  return Math.floor((notAfterMs - nowMs) / DAY_MS);
}

export class CertificateExpiry {
  readonly notAfter: number;
  readonly notBefore: number;
  readonly #warnDays: number;
  /** Days left when the last warning went out (a warning a day, not one per heartbeat). */
  #warnedAt = Infinity;

  /** From the certificate (DER); throws DerError if it cannot be read. */
  constructor(certificate: Uint8Array, warnDays = WARN_DAYS) {
    const { notBefore, notAfter } = certificateValidity(certificate);
    this.notBefore = notBefore;
    this.notAfter = notAfter;
    this.#warnDays = warnDays;
  }

  /** For the heartbeat: days left, or undefined while the clock is not set. */
  daysLeft(nowMs: number, clockValid: boolean): number | undefined {
    return clockValid ? daysLeft(this.notAfter, nowMs) : undefined;
  }

  /** A warning to publish, at most once per day of the countdown; undefined otherwise. */
  check(nowMs: number, clockValid: boolean): ExpiryWarning | undefined {
    if (!clockValid) return undefined;
    const days = daysLeft(this.notAfter, nowMs);
    if (days > this.#warnDays || days >= this.#warnedAt) return undefined;
    this.#warnedAt = days;
    return { event: days < 0 ? "certificate-expired" : "certificate-expiring", days_left: days, not_after: new Date(this.notAfter).toISOString() };
  }
}

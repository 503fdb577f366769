// Types of `wxcoupon/canonical`: the conformance suite's canonical JSON form (conformance/README.md).
import type { CouponResponse, HttpRequest } from './index.js';

export type Canonical = { ok: unknown } | { error: { kind: string; [k: string]: unknown } };
export function canonicalResponse(result: CouponResponse): Record<string, unknown>;
export function canonicalHttpRequest(request: HttpRequest): Record<string, unknown>;
export function canonicalError(error: unknown): { kind: string; [k: string]: unknown };
export function canonical<T>(fn: () => T | Promise<T>, toJson?: (value: T) => unknown): Promise<Canonical>;
export function stableStringify(value: unknown): string;

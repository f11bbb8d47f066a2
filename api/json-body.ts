// The JSON body parser: JSON.parse with messages that say what is wrong (Fastify's default answers
// every failure, prototype poisoning included, with the same "invalid JSON"), and no "__proto__" or
// "constructor.prototype" keys anywhere (they would poison objects merged from the body later).
import { ApiError } from './answers.js';

function hasPoisonKey(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (Array.isArray(v)) return v.some(hasPoisonKey);
  for (const k of Object.keys(v)) {
    const child = (v as Record<string, unknown>)[k];
    if (k === '__proto__') return true;
    if (k === 'constructor' && typeof child === 'object' && child !== null && Object.hasOwn(child, 'prototype')) return true;
    if (hasPoisonKey(child)) return true;
  }
  return false;
}

export function parseJsonBody(body: string): unknown {
  if (body.length === 0) throw new ApiError('invalid_request', 'body is empty; send a JSON object', undefined, 'body');
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    throw new ApiError('invalid_request', `body is not valid JSON: ${(err as Error).message}`, undefined, 'body');
  }
  if ((body.includes('__proto__') || body.includes('constructor')) && hasPoisonKey(value))
    throw new ApiError('invalid_request', 'body must not contain "__proto__" or "constructor.prototype" keys', undefined, 'body');
  return value;
}

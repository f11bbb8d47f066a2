// Types of tools/docs/values-table.mjs (a plain script so it runs without a build).
export const START: string;
export const END: string;
export function documentedKeys(text: string): Array<{ path: string; description: string }>;
export function getPath(obj: unknown, path: string): unknown;
export function leafPaths(obj: unknown, prefix?: string): string[];
export function valuesTable(text?: string): string;
export function docsWithTable(docs: string, table: string): string;

// The one poll helper of the e2e suites: tools/stack/proc.ts's, shared with the stack and the chaos harness.
export { waitFor } from '../../tools/stack/proc.js';

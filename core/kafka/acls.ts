// The Kafka ACLs each Flux-Gate component needs, and nothing more: the list an administrator
// grants (README "Kafka ACLs"), the stack applies to its broker, and the e2e tests apply to theirs.
// Invariant: every entry is an ALLOW on a LITERAL name (never a prefix or a wildcard), so a
// component's user reaches only its own topics and group.
//   api:      WRITE orders (WRITE also authorizes the idempotent producer's InitProducerId since
//             Kafka 3.0, so no cluster IdempotentWrite); DESCRIBE + DESCRIBE_CONFIGS on both topics
//             (ensureTopics checks they exist and reads min.insync.replicas).
//   worker:   READ orders, WRITE the dead-letter topic, READ its consumer group; DESCRIBE_CONFIGS
//             on both topics (ensureTopics). READ and WRITE imply DESCRIBE.
//   operator: DESCRIBE the orders topic (log end offsets) and the group (its committed offsets).
// Creating the topics needs CREATE, which none of them gets: create them first (or let a
// PLAINTEXT/admin client do it), as ensureTopics' error says.
import kafkajs, { type AclEntry, type AclOperationTypes as AclOperation, type AclResourceTypes as AclResource } from 'kafkajs';
import type { KafkaComponent } from './client.js';
import { topicsFor } from './topics.js';

export interface AclSubjects {
  ordersTopic: string;
  groupId: string;
  /** Kafka user of each component (SASL username, or the client certificate's mapped CN). */
  users: Record<KafkaComponent, string>;
}

// kafkajs is CommonJS: its enums are properties of the default export at run time.
const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs;

type Grant = [resource: AclResource, name: string, ops: AclOperation[]];

export function componentGrants(s: Pick<AclSubjects, 'ordersTopic' | 'groupId'>): Record<KafkaComponent, Grant[]> {
  const { orders, dlq } = topicsFor(s.ordersTopic);
  const { TOPIC, GROUP } = AclResourceTypes;
  const { READ, WRITE, DESCRIBE, DESCRIBE_CONFIGS } = AclOperationTypes;
  return {
    api: [
      [TOPIC, orders, [WRITE, DESCRIBE, DESCRIBE_CONFIGS]],
      [TOPIC, dlq, [DESCRIBE, DESCRIBE_CONFIGS]],
    ],
    worker: [
      [TOPIC, orders, [READ, DESCRIBE_CONFIGS]],
      [TOPIC, dlq, [WRITE, DESCRIBE_CONFIGS]],
      [GROUP, s.groupId, [READ]],
    ],
    operator: [
      [TOPIC, orders, [DESCRIBE]],
      [GROUP, s.groupId, [DESCRIBE]],
    ],
  };
}

/** The ACL entries (for kafkajs admin.createAcls) that give each component's user exactly its grants. */
export function componentAcls(s: AclSubjects): AclEntry[] {
  const grants = componentGrants(s);
  return (Object.keys(grants) as KafkaComponent[]).flatMap((component) =>
    grants[component].flatMap(([resourceType, resourceName, ops]) =>
      ops.map((operation) => ({
        resourceType,
        resourceName,
        resourcePatternType: ResourcePatternTypes.LITERAL,
        principal: `User:${s.users[component]}`,
        host: '*',
        operation,
        permissionType: AclPermissionTypes.ALLOW,
      })),
    ),
  );
}

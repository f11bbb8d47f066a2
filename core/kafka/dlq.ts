// Dead-letter topic for messages the worker cannot decode. The original key, value and headers are
// kept byte for byte; our headers say why and where it came from, so a message can be replayed.
import type { IHeaders, KafkaMessage, Message, Producer } from 'kafkajs';

export const DLQ_HEADERS = {
  reason: 'x-dlq-reason',
  topic: 'x-original-topic',
  partition: 'x-original-partition',
  offset: 'x-original-offset',
  failedAt: 'x-dlq-failed-at',
} as const;

export interface PoisonMessage {
  topic: string;
  partition: number;
  message: KafkaMessage;
  reason: string;
}

export function toDlqMessage(p: PoisonMessage, now: Date = new Date()): Message {
  const headers: IHeaders = {
    ...(p.message.headers ?? {}),
    [DLQ_HEADERS.reason]: p.reason,
    [DLQ_HEADERS.topic]: p.topic,
    [DLQ_HEADERS.partition]: String(p.partition),
    [DLQ_HEADERS.offset]: p.message.offset,
    [DLQ_HEADERS.failedAt]: now.toISOString(),
  };
  return { key: p.message.key, value: p.message.value, headers };
}

/** Produces with acks=all; resolves only once every poison message is durable in the DLQ. */
export async function sendToDlq(producer: Producer, dlqTopic: string, poison: PoisonMessage[]): Promise<void> {
  if (poison.length === 0) return;
  const now = new Date();
  await producer.send({ topic: dlqTopic, acks: -1, messages: poison.map((p) => toDlqMessage(p, now)) });
}

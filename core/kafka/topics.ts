// Topic names derive from ORDERS_TOPIC in one place.
export function topicsFor(ordersTopic: string) {
  return { orders: ordersTopic, dlq: `${ordersTopic}.dlq` };
}

/** How a shared subscription group picks the member that receives a message (MQTT 5.0 §4.8.2). */
export const SHARE_STRATEGIES = [
  'random',
  'round_robin',
  'round_robin_per_group',
  'sticky',
  'hash_clientid',
  'hash_topic',
  'local',
] as const;

export type ShareStrategy = (typeof SHARE_STRATEGIES)[number];

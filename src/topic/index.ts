export { covers, intersects, matchesTopic } from './match.js';
export type { TreeVisitor } from './retained-tree.js';
export { TopicTree } from './retained-tree.js';
export type { TrieVisitor } from './trie.js';
export { TopicTrie } from './trie.js';
export type { TopicLimits } from './validate.js';
export {
  isSysTopic,
  isWildcardFilter,
  MAX_TOPIC_BYTES,
  parseSharedFilter,
  validateTopicFilter,
  validateTopicName,
} from './validate.js';

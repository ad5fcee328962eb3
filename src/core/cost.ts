import { Extensions } from 'type-graphql';

/**
 * What a field can cost a response, for the operation cost limit (graphql/cost.ts). The unit is a value of at most
 * 100 bytes in the answer, key and punctuation included; most fields are one unit. A field that can carry more
 * (client-chosen text, JSON) declares the most it can take, so that the cost of an operation bounds the bytes of
 * its answer.
 */
export const Cost = (units: number) => Extensions({ cost: units });

/** Units of a text field of at most `maxChars` UTF-16 units: at most 3 bytes of UTF-8 each, plus its key. */
export const textCost = (maxChars: number) => Math.ceil((3 * maxChars + 30) / 100);

/**
 * The most items a list field returns when it takes no `first` argument (a connection is sized by its `first`; its
 * `edges` list then declares 1, since the connection already multiplied).
 */
export const ListSize = (items: number) => Extensions({ listSize: items });

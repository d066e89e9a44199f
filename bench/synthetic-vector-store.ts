/**
 * A synthetic vector index for the retriever's tests and benchmark: a real LangChain VectorStore
 * over deterministic hash embeddings, so that no model is downloaded. Ranking is strict (score,
 * then insertion order), so the best n of a filtered search are exactly the best n of the full
 * ranking that pass the filter: what the retriever's property test compares against.
 */
import type { DocumentInterface } from "@langchain/core/documents";
import { Document } from "@langchain/core/documents";
import { Embeddings } from "@langchain/core/embeddings";
import { VectorStore } from "@langchain/core/vectorstores";

const DIM = 16;

/** Each word adds a pseudo-random unit-ish vector: texts sharing words score higher. */
export class HashEmbeddings extends Embeddings {
  constructor() {
    super({});
  }
  embed(text: string): number[] {
    const v = new Array<number>(DIM).fill(0);
    for (const word of text.toLowerCase().split(/\W+/)) {
      if (word === "") continue;
      let h = 0x811c9dc5;
      for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 0x01000193);
      for (let d = 0; d < DIM; d++) {
        h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
        v[d]! += ((h >>> 0) / 0xffffffff) * 2 - 1;
      }
    }
    return v;
  }
  async embedDocuments(texts: string[]): Promise<number[][]> {
    return texts.map((t) => this.embed(t));
  }
  async embedQuery(text: string): Promise<number[]> {
    return this.embed(text);
  }
}

export class SyntheticVectorStore extends VectorStore {
  declare FilterType: (doc: DocumentInterface) => boolean;
  private vectors = new Float32Array(1024 * DIM);
  private readonly docs: DocumentInterface[] = [];

  constructor() {
    super(new HashEmbeddings(), {});
  }

  _vectorstoreType(): string {
    return "synthetic";
  }

  get size(): number {
    return this.docs.length;
  }

  async addDocuments(documents: DocumentInterface[]): Promise<void> {
    await this.addVectors(
      await this.embeddings.embedDocuments(documents.map((d) => d.pageContent)),
      documents,
    );
  }

  async addVectors(vectors: number[][], documents: DocumentInterface[]): Promise<void> {
    const need = (this.docs.length + documents.length) * DIM;
    if (need > this.vectors.length) {
      const grown = new Float32Array(Math.max(need, this.vectors.length * 2));
      grown.set(this.vectors);
      this.vectors = grown;
    }
    for (let i = 0; i < documents.length; i++) this.vectors.set(vectors[i]!, (this.docs.length + i) * DIM);
    for (const doc of documents) this.docs.push(doc);
  }

  async similaritySearchVectorWithScore(
    query: number[],
    k: number,
    filter?: this["FilterType"],
  ): Promise<[DocumentInterface, number][]> {
    if (k <= 0) return [];
    // The best k by (score desc, index asc), kept sorted in a small array: k is small here.
    const top: { score: number; index: number }[] = [];
    const better = (a: { score: number; index: number }, b: { score: number; index: number }) =>
      a.score > b.score || (a.score === b.score && a.index < b.index);
    for (let index = 0; index < this.docs.length; index++) {
      let score = 0;
      const base = index * DIM;
      for (let d = 0; d < DIM; d++) score += query[d]! * this.vectors[base + d]!;
      score = Math.fround(score);
      if (top.length === k && !better({ score, index }, top[k - 1]!)) continue;
      if (filter !== undefined && !filter(this.docs[index]!)) continue;
      let at = top.length;
      while (at > 0 && better({ score, index }, top[at - 1]!)) at--;
      top.splice(at, 0, { score, index });
      if (top.length > k) top.pop();
    }
    return top.map(({ score, index }) => {
      const doc = this.docs[index]!;
      return [new Document({ pageContent: doc.pageContent, metadata: doc.metadata }), score];
    });
  }
}

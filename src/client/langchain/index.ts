/** `latch/langchain`: LangChain.js integration (`@langchain/core` is an optional peer dependency). */
export {
  LatchRetriever,
  type LatchRetrieverOptions,
  type RankedSearch,
  type Retrieval,
  type RetrievalReport,
  type RetrievalStrategy,
  type RetrieverStats,
} from "./latch-retriever.js";

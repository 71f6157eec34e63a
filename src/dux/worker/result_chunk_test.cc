#include "dux/worker/result_chunk.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace dux::worker {
namespace {

std::string Joined(const ResultChunk& chunk) {
  std::string all;
  for (std::string_view piece : chunk.Pieces()) all.append(piece);
  return all;
}

TEST(ResultChunkTest, KeepsCopiedAndKeptBytesInOrderAndHoldsTheKeptAlive) {
  auto batch = std::make_shared<std::string>("KEPT-ONE|KEPT-TWO");
  std::weak_ptr<std::string> watch = batch;
  ResultChunk chunk;
  std::string scratch = "ab";
  chunk.Append(scratch.data(), 2);
  chunk.Append("cd", 2);  // joins the copied piece before it
  chunk.AppendKept(batch->data(), 8, batch);
  chunk.Append("|", 1);
  chunk.AppendKept(batch->data() + 9, 8, batch);
  chunk.Append("", 0);
  scratch = "zz";  // copied bytes do not depend on the caller's memory
  batch.reset();
  ASSERT_FALSE(watch.expired()) << "the chunk holds what it refers to";
  EXPECT_EQ(chunk.size(), 21u);
  EXPECT_EQ(chunk.Pieces().size(), 4u);
  EXPECT_EQ(Joined(chunk), "abcdKEPT-ONE|KEPT-TWO");
  EXPECT_EQ(std::move(chunk).Flatten(), "abcdKEPT-ONE|KEPT-TWO");
  chunk = ResultChunk();
  EXPECT_TRUE(watch.expired()) << "released with the chunk";
}

TEST(ResultChunkTest, ACopiedChunkFlattensToItsBytes) {
  ResultChunk chunk;
  EXPECT_TRUE(chunk.empty());
  EXPECT_EQ(ResultChunk(chunk).Flatten(), "");
  chunk.Append("one", 3);
  chunk.Append("two", 3);
  EXPECT_EQ(chunk.Pieces().size(), 1u);
  EXPECT_EQ(std::move(chunk).Flatten(), "onetwo");
}

}  // namespace
}  // namespace dux::worker

#include "dux/pg/slice.h"

#include <gtest/gtest.h>

namespace dux::pg {
namespace {

TEST(SliceTest, ModulusHandlesNegativesAndPutsNullsInSliceZero) {
  EXPECT_EQ(*SlicePredicate("id", SliceMethod::kModulus, 0, 3),
            "(((\"id\" % 3) + 3) % 3 = 0 OR \"id\" IS NULL)");
  EXPECT_EQ(*SlicePredicate("id", SliceMethod::kModulus, 2, 3), "(((\"id\" % 3) + 3) % 3 = 2)");
}

TEST(SliceTest, HashUsesHashtextOfTheTextForm) {
  EXPECT_EQ(*SlicePredicate("k\"ey", SliceMethod::kHash, 1, 4),
            "(((hashtext(\"k\"\"ey\"::text) % 4) + 4) % 4 = 1)");
}

TEST(SliceTest, OneSliceIsTheWholeTable) {
  EXPECT_EQ(*SlicePredicate("id", SliceMethod::kModulus, 0, 1), "");
  EXPECT_EQ(*SlicePredicate("id", SliceMethod::kRange, 0, 1, KeyRange{1, 10}), "");
}

TEST(SliceTest, RangesCoverEverythingWithOpenEnds) {
  KeyRange r{0, 9};
  EXPECT_EQ(*SlicePredicate("id", SliceMethod::kRange, 0, 3, r), "(\"id\" < 3 OR \"id\" IS NULL)");
  EXPECT_EQ(*SlicePredicate("id", SliceMethod::kRange, 1, 3, r), "(\"id\" >= 3 AND \"id\" < 6)");
  EXPECT_EQ(*SlicePredicate("id", SliceMethod::kRange, 2, 3, r), "(\"id\" >= 6)");
  // The full int64 range does not overflow.
  KeyRange all{INT64_MIN, INT64_MAX};
  EXPECT_EQ(*SlicePredicate("id", SliceMethod::kRange, 1, 2, all), "(\"id\" >= 0)");
  // No range (or an empty table): slice 0 reads everything, the others nothing.
  EXPECT_EQ(*SlicePredicate("id", SliceMethod::kRange, 0, 2), "");
  EXPECT_EQ(*SlicePredicate("id", SliceMethod::kRange, 1, 2), "false");
}

TEST(SliceTest, RejectsSlicesOutOfRange) {
  EXPECT_FALSE(SlicePredicate("id", SliceMethod::kModulus, 3, 3).ok());
  EXPECT_FALSE(SlicePredicate("id", SliceMethod::kModulus, -1, 3).ok());
  EXPECT_FALSE(SlicePredicate("id", SliceMethod::kModulus, 0, 0).ok());
}

TEST(SliceTest, DefaultMethodByKeyType) {
  EXPECT_EQ(*DefaultSliceMethod(ColumnType{Kind::kInt8}, "id"), SliceMethod::kModulus);
  EXPECT_EQ(*DefaultSliceMethod(ColumnType{Kind::kInt2}, "id"), SliceMethod::kModulus);
  EXPECT_EQ(*DefaultSliceMethod(ColumnType{Kind::kText}, "k"), SliceMethod::kHash);
  EXPECT_EQ(*DefaultSliceMethod(ColumnType{Kind::kNumeric, false, 10, 0}, "k"), SliceMethod::kHash);
  auto array = DefaultSliceMethod(ColumnType{Kind::kInt4, true}, "tags");
  ASSERT_FALSE(array.ok());
  EXPECT_EQ(array.status().message(),
            "partition_by column \"tags\" is an array; use a scalar column");
}

}  // namespace
}  // namespace dux::pg

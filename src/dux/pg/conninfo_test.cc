#include "dux/pg/conninfo.h"

#include <gtest/gtest.h>

namespace dux::pg {
namespace {

TEST(ConninfoTest, RedactsKeywordValuePasswords) {
  EXPECT_EQ(Redact("host=db user=u password=secret dbname=x"),
            "host=db user=u password=*** dbname=x");
  EXPECT_EQ(Redact("password = secret"), "password = ***");
  EXPECT_EQ(Redact("host=db password='se cr\\'et' port=5"), "host=db password=*** port=5");
  EXPECT_EQ(Redact("password=a\\ b host=h"), "password=*** host=h");
  EXPECT_EQ(Redact("PASSWORD=x"), "PASSWORD=***");
  EXPECT_EQ(Redact("host=db dbname=password"), "host=db dbname=password");
  EXPECT_EQ(Redact("host=db"), "host=db");
  EXPECT_EQ(Redact(""), "");
}

TEST(ConninfoTest, RedactsMalformedStrings) {
  // An unterminated quote runs to the end; a keyword without "=" hides its next word.
  EXPECT_EQ(Redact("host=db password='abc def"), "host=db password=***");
  EXPECT_EQ(Redact("host=db password secret"), "host=db password ***");
  EXPECT_EQ(Redact("password="), "password=");
}

TEST(ConninfoTest, RedactsUriPasswords) {
  EXPECT_EQ(Redact("postgresql://u:secret@host:5432/db"), "postgresql://u:***@host:5432/db");
  EXPECT_EQ(Redact("postgres://u:se@cr/et@host/db?sslmode=require"),
            "postgres://u:***@host/db?sslmode=require");
  EXPECT_EQ(Redact("postgresql://host/db?user=u&password=secret&sslmode=off"),
            "postgresql://host/db?user=u&password=***&sslmode=off");
  EXPECT_EQ(Redact("postgresql://u@host/db"), "postgresql://u@host/db");
  EXPECT_EQ(Redact("postgresql://host/db"), "postgresql://host/db");
}

TEST(ConninfoTest, RedactsPasswordsInAnyText) {
  EXPECT_EQ(RedactText("syntax error: expected \",\", got \"\\\"host=h password=s3cret\\\"\" "
                       "(line 1, col 13)"),
            "syntax error: expected \",\", got \"\\\"host=h password=*** (line 1, col 13)");
  EXPECT_EQ(RedactText("a PASSWORD = 'x y' b"), "a PASSWORD = *** b");
  EXPECT_EQ(RedactText("see postgresql://u:pw@h/db and postgres://v:p2@h2"),
            "see postgresql://u:***@h/db and postgres://v:***@h2");
  EXPECT_EQ(RedactText("postgresql://h/db?user=u&password=pw&x=1"),
            "postgresql://h/db?user=u&password=***");
  EXPECT_EQ(RedactText("no secrets here: passwords, password"),
            "no secrets here: passwords, password");
  EXPECT_EQ(RedactText(""), "");
}

TEST(ConninfoTest, PasswordOfDecodesLikeLibpq) {
  EXPECT_EQ(PasswordOf("password='a\\'b c'"), "a'b c");
  EXPECT_EQ(PasswordOf("user=u password=p\\ q"), "p q");
  EXPECT_EQ(PasswordOf("postgresql://u:p%40ss@h/db"), "p@ss");
  EXPECT_EQ(PasswordOf("host=h"), "");
}

TEST(ConninfoTest, ScrubRemovesPasswordsFromMessages) {
  const std::string conninfo = "host=h password=hunter22";
  EXPECT_EQ(Scrub("cannot use hunter22 on host=h password=hunter22", conninfo),
            "cannot use *** on host=h password=***");
  // Too short to search for without mangling the message.
  EXPECT_EQ(Scrub("a b", "password=a"), "a b");
}

}  // namespace
}  // namespace dux::pg

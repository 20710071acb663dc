// Rank-aware logging: info reaches stdout from rank 0 only; warn and error reach stderr from
// any rank as one whole line prefixed "[rank R] warning: " / "[rank R] error: ".
#include "lockstep/base/logging.h"

#include <gtest/gtest.h>

#include <string>

#include "support/capture_stream.h"

namespace lockstep::logging {
namespace {

class Logging : public ::testing::Test {
 protected:
  void SetUp() override { saved_rank_ = rank(); }
  void TearDown() override { set_rank(saved_rank_); }

 private:
  int saved_rank_ = 0;
};

TEST_F(Logging, InfoPrintsOneLineOnStdoutFromRankZero) {
  set_rank(0);
  lockstep::testing::CapturedStream out(stdout), err(stderr);
  info("epoch %d loss %.2f", 3, 0.5);
  EXPECT_EQ(out.text(), "epoch 3 loss 0.50\n");
  EXPECT_EQ(err.text(), "");
}

TEST_F(Logging, InfoIsSilentOnOtherRanks) {
  set_rank(2);
  lockstep::testing::CapturedStream out(stdout), err(stderr);
  info("epoch %d", 1);
  EXPECT_EQ(out.text(), "");
  EXPECT_EQ(err.text(), "");
}

TEST_F(Logging, WarnAndErrorCarryTheRankOnStderr) {
  set_rank(3);
  lockstep::testing::CapturedStream out(stdout), err(stderr);
  warn("slow disk: %s", "/data");
  error("cannot open %s", "x.npy");
  EXPECT_EQ(err.text(), "[rank 3] warning: slow disk: /data\n[rank 3] error: cannot open x.npy\n");
  EXPECT_EQ(out.text(), "");
  EXPECT_EQ(rank(), 3);
}

TEST_F(Logging, LongMessagesArriveWhole) {
  set_rank(1);
  const std::string long_text(10000, 'x');
  lockstep::testing::CapturedStream err(stderr);
  error("%s|end", long_text.c_str());
  EXPECT_EQ(err.text(), "[rank 1] error: " + long_text + "|end\n");
}

}  // namespace
}  // namespace lockstep::logging

// The C++ side of the harness: registers the C test bodies into Google Test,
// runs each on every rank, and makes all ranks agree on its verdict in bounded
// time. A watchdog thread aborts the job if a body runs past its deadline.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/syscall.h>
#include <unistd.h>

#include "mt.h"

// OpenMP's thread number, where the test program links an OpenMP runtime
// (weak: the harness itself does not need one).
extern "C" int omp_in_parallel(void) __attribute__((weak));
extern "C" int omp_get_thread_num(void) __attribute__((weak));

namespace
{

constexpr int kMessageBytes = 2048; // per-rank failure text carried in the agreement

struct Entry {
    std::string suite, name, file;
    int line;
    int flags;
    mt_body_fn fn;
};

std::vector<Entry> &registry()
{
    static std::vector<Entry> r;
    return r;
}

MPI_Comm agree_comm = MPI_COMM_NULL; // private, so a stray collective cannot match ours
int world_rank = 0, world_size = 1;
std::string local_failures; // this rank's failure text for the running test
int local_failure_count = 0;
std::string local_skip;            // this rank's reason for skipping the running test
constexpr char kSkipMark = '\x01'; // starts a skip reason in the agreement
bool capturing = false;
int captured_count = 0;
std::string captured_first;
// Test bodies may fail or skip from any thread (OpenMP teams, pthreads): the
// records above are changed under this lock. The agreement reads them after
// the body has returned, when its threads have joined.
std::mutex record_mu;
std::thread::id main_thread;

double env_seconds(const char *name, double fallback)
{
    const char *v = std::getenv(name);
    if (!v || !*v)
        return fallback;
    char *end = nullptr;
    double d = std::strtod(v, &end);
    return (*end == '\0' && d > 0) ? d : fallback;
}

[[noreturn]] void abort_job(const std::string &why)
{
    std::fprintf(stderr, "[rank %d] mt harness: %s; aborting the job\n", world_rank, why.c_str());
    std::fflush(stderr);
    // MPICH's launcher (hydra) drops output still in its pipes when MPI_Abort
    // kills the job: give it a moment to forward the reason first.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    MPI_Abort(MPI_COMM_WORLD, 3);
    std::_Exit(3);
}

// Aborts the job if the armed test is still running at its deadline.
class Watchdog
{
  public:
    Watchdog() : thread_([this] { loop(); })
    {
    }
    ~Watchdog()
    {
        {
            std::lock_guard<std::mutex> g(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    void arm(const std::string &test, double seconds)
    {
        std::lock_guard<std::mutex> g(mu_);
        test_ = test;
        seconds_ = seconds;
        deadline_ = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(seconds));
        armed_ = true;
        cv_.notify_all();
    }
    void disarm()
    {
        std::lock_guard<std::mutex> g(mu_);
        armed_ = false;
        cv_.notify_all();
    }

  private:
    void loop()
    {
        std::unique_lock<std::mutex> g(mu_);
        while (!stop_) {
            if (!armed_) {
                cv_.wait(g);
            } else if (cv_.wait_until(g, deadline_) == std::cv_status::timeout && armed_ &&
                       std::chrono::steady_clock::now() >= deadline_) {
                char why[512];
                std::snprintf(why, sizeof(why), "test %s did not finish within %.0f s (MT_TIMEOUT)",
                              test_.c_str(), seconds_);
                abort_job(why);
            }
        }
    }
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false, armed_ = false;
    std::string test_;
    double seconds_ = 0;
    std::chrono::steady_clock::time_point deadline_;
    std::thread thread_;
};

Watchdog *watchdog = nullptr;

// Every rank contributes its failure text (empty if it passed); all receive all.
// Bounded: a rank that never arrives makes the others abort the job.
std::vector<char> agree(const std::string &test)
{
    std::vector<char> mine(kMessageBytes, '\0'), all((size_t)kMessageBytes * world_size);
    std::string text = local_failures;
    if (text.size() >= (size_t)kMessageBytes) { // many failures (threads): say how many
        char more[128];
        std::snprintf(more, sizeof(more),
                      "[rank %d] ... %d failures on this rank in all; its stderr has each\n",
                      world_rank, local_failure_count);
        size_t keep = (size_t)kMessageBytes - 1 - std::strlen(more);
        size_t cut = text.rfind('\n', keep - 1); // whole lines only
        text = text.substr(0, cut == std::string::npos ? keep : cut + 1) + more;
    }
    std::snprintf(mine.data(), kMessageBytes, "%s", text.c_str());
    if (local_failure_count > 0 && mine[0] == '\0')
        mine[0] = '?';
    if (local_failure_count == 0 && !local_skip.empty())
        std::snprintf(mine.data(), kMessageBytes, "%c%s", kSkipMark, local_skip.c_str());
    MPI_Request req;
    MPI_Iallgather(mine.data(), kMessageBytes, MPI_CHAR, all.data(), kMessageBytes, MPI_CHAR,
                   agree_comm, &req);
    double limit = env_seconds("MT_AGREE_TIMEOUT", 30);
    double start = MPI_Wtime();
    int done = 0;
    while (!done) {
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (done)
            break;
        if (MPI_Wtime() - start > limit) {
            char why[512];
            std::snprintf(why, sizeof(why),
                          "ranks did not agree on the verdict of test %s within %.0f s "
                          "(MT_AGREE_TIMEOUT): a rank left the test early or hangs",
                          test.c_str(), limit);
            abort_job(why);
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return all;
}

class MpiTest : public ::testing::Test
{
  public:
    explicit MpiTest(const Entry &e) : e_(e)
    {
    }
    void TestBody() override
    {
        std::string id = e_.suite + "." + e_.name;
        local_failures.clear();
        local_failure_count = 0;
        local_skip.clear();
        MPI_Barrier(agree_comm); // every rank starts the test together
        watchdog->arm(id, env_seconds("MT_TIMEOUT", 120));
        if (e_.flags & MT_FLAG_MDSM) {
            int rc = mdsm_init(MPI_COMM_WORLD, nullptr);
            if (rc == MDSM_OK) {
                e_.fn();
                rc = mdsm_finalize();
                if (rc != MDSM_OK)
                    mt_fail(e_.file.c_str(), e_.line, "mdsm_finalize returned %d (%s)", rc,
                            mdsm_strerror(rc));
            } else {
                mt_fail(e_.file.c_str(), e_.line, "mdsm_init returned %d (%s): %s", rc,
                        mdsm_strerror(rc), mdsm_last_error_message());
            }
        } else {
            e_.fn();
        }
        watchdog->disarm();
        std::vector<char> all = agree(id);
        std::string report, skip;
        for (int r = 0; r < world_size; r++) {
            const char *msg = &all[(size_t)r * kMessageBytes];
            if (msg[0] == kSkipMark) {
                if (skip.empty())
                    skip = msg + 1;
                continue;
            }
            msg = msg[0] ? msg : nullptr;
            if (msg) {
                report += msg;
                if (report.back() != '\n')
                    report += '\n';
            }
        }
        if (!report.empty())
            ADD_FAILURE_AT(e_.file.c_str(), e_.line) << "failed on at least one rank:\n" << report;
        else if (!skip.empty())
            GTEST_SKIP() << skip;
    }

  private:
    const Entry &e_;
};

} // namespace

extern "C" void mt_register(const char *suite, const char *name, mt_body_fn fn, const char *file,
                            int line, int flags)
{
    registry().push_back(Entry{suite, name, file, line, flags, fn});
}

// "[rank N] file.c:line: <tag><message>", for failures and skips alike. Off
// the main thread the rank is followed by the thread: "[rank N, thread T]"
// with T the OpenMP thread number inside a parallel region (thread 0 is then
// the main thread too), else "[rank N, thread tid T]" with the kernel's id.
static std::string located(const char *file, int line, const char *tag, const char *fmt, va_list ap)
{
    char what[1024];
    std::vsnprintf(what, sizeof(what), fmt, ap);
    const char *base = std::strrchr(file, '/');
    char who[64];
    if (omp_in_parallel && omp_get_thread_num && omp_in_parallel())
        std::snprintf(who, sizeof(who), "rank %d, thread %d", world_rank, omp_get_thread_num());
    else if (std::this_thread::get_id() != main_thread)
        std::snprintf(who, sizeof(who), "rank %d, thread tid %ld", world_rank,
                      (long)syscall(SYS_gettid));
    else
        std::snprintf(who, sizeof(who), "rank %d", world_rank);
    char text[1200];
    std::snprintf(text, sizeof(text), "[%s] %s:%d: %s%s", who, base ? base + 1 : file, line, tag,
                  what);
    return text;
}

extern "C" void mt_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    std::string line_text = located(file, line, "", fmt, ap);
    va_end(ap);
    std::lock_guard<std::mutex> g(record_mu);
    if (capturing) {
        if (captured_count++ == 0)
            captured_first = line_text;
        return;
    }
    local_failure_count++;
    local_failures += line_text;
    local_failures += '\n';
    std::fprintf(stderr, "%s\n", line_text.c_str()); // at once, in case the job is aborted later
}

extern "C" void mt_skip(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    std::string text = located(file, line, "skipped: ", fmt, ap);
    va_end(ap);
    std::lock_guard<std::mutex> g(record_mu);
    if (local_skip.empty())
        local_skip = text;
}

extern "C" int mt_rank(void)
{
    return world_rank;
}

extern "C" int mt_nranks(void)
{
    return world_size;
}

extern "C" void mt_capture_begin(void)
{
    std::lock_guard<std::mutex> g(record_mu);
    capturing = true;
    captured_count = 0;
    captured_first.clear();
}

extern "C" int mt_capture_end(const char **first_message)
{
    std::lock_guard<std::mutex> g(record_mu);
    capturing = false;
    if (first_message)
        *first_message = captured_first.c_str();
    return captured_count;
}

int main(int argc, char **argv)
{
    main_thread = std::this_thread::get_id();
    int provided = MPI_THREAD_SINGLE;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    if (provided < MPI_THREAD_MULTIPLE) {
        std::fprintf(stderr, "[rank %d] mt harness: MPI does not provide MPI_THREAD_MULTIPLE\n",
                     world_rank);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    MPI_Comm_dup(MPI_COMM_WORLD, &agree_comm);
    ::testing::InitGoogleTest(&argc, argv);
    for (const Entry &e : registry()) {
        ::testing::RegisterTest(e.suite.c_str(), e.name.c_str(), nullptr, nullptr, e.file.c_str(),
                                e.line, [&e]() -> ::testing::Test * { return new MpiTest(e); });
    }
    if (world_rank != 0) { // every rank agrees on verdicts, so rank 0 speaks for all
        auto &listeners = ::testing::UnitTest::GetInstance()->listeners();
        delete listeners.Release(listeners.default_result_printer());
    }
    int rc;
    {
        Watchdog wd;
        watchdog = &wd;
        rc = RUN_ALL_TESTS();
        watchdog = nullptr;
    }
    MPI_Comm_free(&agree_comm);
    MPI_Finalize();
    return rc;
}

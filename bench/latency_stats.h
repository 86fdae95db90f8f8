#pragma once

// Summary statistics of one benchmark series (one tool, one mode).

#include <string>
#include <vector>

namespace certfleet::bench {

// What one series measured; latencies of successful requests only.
struct SeriesResult {
  std::string tool;             // "certfleet" or "lego".
  std::string mode;             // "sequential" or "concurrent".
  int concurrency = 1;          // Client threads.
  int requested = 0;            // Certificates asked for.
  std::vector<double> seconds;  // Per-certificate latency of each success.
  double wall_seconds = 0;      // First start to last finish.
  std::vector<std::string> failures;  // One line per failed certificate.
};

// The median (mean of the two middle values for an even count); 0 for no values.
double Median(std::vector<double> values);

// The nearest-rank percentile `p` (0 < p <= 100); 0 for no values.
double Percentile(std::vector<double> values, double p);

// Certificates issued per second over the series' wall time; 0 when it took no time.
double Throughput(const SeriesResult& series);

}  // namespace certfleet::bench

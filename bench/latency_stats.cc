#include "bench/latency_stats.h"

#include <algorithm>
#include <cmath>

namespace certfleet::bench {

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * values.size()));
  rank = std::clamp<size_t>(rank, 1, values.size());
  return values[rank - 1];
}

double Throughput(const SeriesResult& series) {
  if (series.wall_seconds <= 0) return 0;
  return series.seconds.size() / series.wall_seconds;
}

}  // namespace certfleet::bench

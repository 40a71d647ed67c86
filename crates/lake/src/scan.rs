//! What a query or a carve read: Parquet files opened and bytes fetched,
//! against the files the scanned tables hold. Taken from the executed plan's
//! own metrics, so it shows how well partition and statistics pruning (and
//! the maintenance that sorts the files for it) worked.

use std::sync::Arc;

use deltalake::datafusion::datasource::physical_plan::FileScanConfig;
use deltalake::datafusion::datasource::source::DataSourceExec;
use deltalake::datafusion::physical_plan::ExecutionPlan;
use deltalake::datafusion::physical_plan::metrics::MetricValue;

/// What a scan read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ScanStats {
    /// Data files of the scanned tables at the version read.
    pub files_total: u64,
    /// Files the plan kept after partition and log-statistics pruning.
    pub files_planned: u64,
    /// Files actually opened (planned, minus those Parquet's own file
    /// statistics then skipped).
    pub files_scanned: u64,
    /// Bytes fetched from storage (footers, pages).
    pub bytes_scanned: u64,
    /// Row groups read after statistics pruning.
    pub row_groups_read: u64,
    /// Row groups skipped by their statistics.
    pub row_groups_pruned: u64,
}

impl ScanStats {
    /// Walk an executed plan and add up its file scans.
    pub fn from_plan(plan: &Arc<dyn ExecutionPlan>) -> ScanStats {
        let mut stats = ScanStats::default();
        stats.add_plan(plan.as_ref());
        stats
    }

    fn add_plan(&mut self, plan: &dyn ExecutionPlan) {
        if let Some(exec) = plan.downcast_ref::<DataSourceExec>()
            && let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>()
        {
            let planned: usize = config.file_groups.iter().map(|g| g.len()).sum();
            let mut files_pruned = 0;
            if let Some(metrics) = exec.metrics() {
                for m in metrics.iter() {
                    match m.value() {
                        MetricValue::Count { name, count } if name.as_ref() == "bytes_scanned" => {
                            self.bytes_scanned += count.value() as u64;
                        }
                        MetricValue::PruningMetrics { name, pruning_metrics } => match name.as_ref() {
                            "files_ranges_pruned_statistics" => files_pruned += pruning_metrics.pruned(),
                            "row_groups_pruned_statistics" => {
                                self.row_groups_read += pruning_metrics.matched() as u64;
                                self.row_groups_pruned += pruning_metrics.pruned() as u64;
                            }
                            _ => {}
                        },
                        _ => {}
                    }
                }
            }
            self.files_planned += planned as u64;
            self.files_scanned += planned.saturating_sub(files_pruned) as u64;
        }
        for child in plan.children() {
            self.add_plan(child.as_ref());
        }
    }
}

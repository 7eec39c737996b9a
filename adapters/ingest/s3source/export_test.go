package s3source

// SetListPageSize makes List ask for n keys a page (to exercise paging)
// and returns a function restoring the size.
func SetListPageSize(n int32) (restore func()) {
	old := listPageSize
	listPageSize = n
	return func() { listPageSize = old }
}

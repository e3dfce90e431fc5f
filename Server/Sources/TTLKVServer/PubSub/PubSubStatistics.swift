/// INFO stats fields of pub/sub, under Redis's names: channels and
/// patterns with subscribers (Redis 7.0), and the subscribers disconnected
/// for passing the output buffer limit (the count Redis 7.4 added).
func pubSubStatistics(_ server: ServerContext) -> [(String, String)] {
    [
        ("pubsub_channels", "\(server.pubSub.channels)"),
        ("pubsub_patterns", "\(server.pubSub.patternsSubscribed)"),
        ("client_output_buffer_limit_disconnections",
         "\(server.outputBufferLimit.disconnections.load(ordering: .relaxed))"),
    ]
}

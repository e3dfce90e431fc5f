extension StaticString {
    /// The string's UTF-8 bytes, which live as long as the program.
    var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: utf8Start, count: utf8CodeUnitCount)
    }
}

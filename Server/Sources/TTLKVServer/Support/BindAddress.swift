/*
 What a --bind address names, decided on numbers, never on spelling.

 A numeric address is parsed; a name is resolved (getaddrinfo, as bind
 does) into every address it stands for. Protected mode asks whether an
 address is loopback: it is only if it resolves, and every address it
 resolves to is in 127.0.0.0/8, ::1, or 127.0.0.0/8 mapped into IPv6. A
 name that does not resolve, or resolves to any other address, is not
 (a prefix test let `127.attacker.invalid` pass). The server binds the
 first address the name resolved to, as NIO's bind(host:) would, and
 checks that very address, so a name cannot resolve one way for the check
 and another for the bind.
 */
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

enum BindAddress {
    /// Every TCP address `host` names, in getaddrinfo's order; empty if it
    /// names none.
    static func resolve(_ host: String, port: Int) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0 else { return [] }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var next = list
        while let info = next {
            // getaddrinfo sized ai_addr for ai_family: a sockaddr_in or a sockaddr_in6.
            if let address = info.pointee.ai_addr {
                switch info.pointee.ai_family {
                case AF_INET:
                    let raw = UnsafeRawPointer(address).load(as: sockaddr_in.self)
                    addresses.append(SocketAddress(raw, host: host))
                case AF_INET6:
                    let raw = UnsafeRawPointer(address).load(as: sockaddr_in6.self)
                    addresses.append(SocketAddress(raw, host: host))
                default:
                    break
                }
            }
            next = info.pointee.ai_next
        }
        return addresses
    }

    /// Whether `host` names loopback addresses only (see the file comment).
    static func isLoopback(_ host: String) -> Bool {
        let addresses = resolve(host, port: 0)
        return !addresses.isEmpty && addresses.allSatisfy(isLoopback)
    }

    /// Whether `address` is in 127.0.0.0/8, is ::1, or is an IPv4 loopback
    /// address mapped into IPv6.
    static func isLoopback(_ address: SocketAddress) -> Bool {
        switch address {
        case .v4(let v4):
            return firstIPv4Byte(v4.address.sin_addr) == 127
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            let mapped = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
            return bytes == Array(repeating: 0, count: 15) + [1] || (mapped && bytes[12] == 127)
        case .unixDomainSocket:
            return false
        }
    }

    private static func firstIPv4Byte(_ address: in_addr) -> UInt8 {
        withUnsafeBytes(of: address.s_addr) { $0[0] } // network order: the first byte is the first octet
    }
}

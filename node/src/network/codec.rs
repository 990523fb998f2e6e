//! The sync protocol's wire codec: every message is one frame, a 4-byte
//! little-endian length, then the message in `cairn-core`'s canonical encoding (see
//! [`cairn_core::wire`]). Lengths are checked before anything is allocated, and
//! decoding is strict (no trailing bytes).
//!
//! A response is held to the request it answers: libp2p gives every outbound stream
//! its own clone of the codec and writes the request before it reads the answer, so
//! the codec remembers what it asked for and refuses, before reading them, frames
//! larger than that request's answer can be (a status is 105 bytes, `n` headers
//! `5 + 96 n`, `n` blocks at most `n` of the network's largest block and never more
//! than the responder's soft budget plus one block), and answers of another kind or
//! with more elements than were asked for.

use std::io;

use cairn_core::encoding::DecodeError;
use cairn_core::wire::ResponseLimit;
use cairn_core::{Decode, Encode};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

pub use cairn_core::wire::{
    ChainStatus, MAX_BLOCKS, MAX_HEADERS, MAX_LOCATOR, SyncRequest, SyncResponse,
};

/// Largest request frame.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// A responder stops adding blocks to a response past this many bytes (a single
/// block may exceed it).
pub const SOFT_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// The libp2p request-response codec for [`SyncRequest`] / [`SyncResponse`], for a
/// network whose blocks are at most `max_block_bytes`.
#[derive(Debug, Clone, Copy)]
pub struct SyncCodec {
    max_block_bytes: usize,
    /// What the request written on this stream allows its answer to be.
    expect: Option<ResponseLimit>,
}

impl SyncCodec {
    /// A codec for a network whose blocks are at most `max_block_bytes`.
    pub fn new(max_block_bytes: usize) -> SyncCodec {
        SyncCodec {
            max_block_bytes: max_block_bytes.min(cairn_core::block::MAX_BLOCK_BYTES_LIMIT),
            expect: None,
        }
    }

    /// The limit of an answer to `request`.
    pub fn response_limit(&self, request: &SyncRequest) -> ResponseLimit {
        request.response_limit(self.max_block_bytes, SOFT_RESPONSE_BYTES)
    }
}

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = usize::try_from(u32::from_le_bytes(len)).unwrap_or(usize::MAX);
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the limit of {max}"),
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(
    io: &mut T,
    msg: &impl Encode,
) -> io::Result<()> {
    let bytes = msg.to_bytes();
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    io.write_all(&len.to_le_bytes()).await?;
    io.write_all(&bytes).await?;
    io.close().await
}

fn invalid(e: DecodeError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = SyncRequest;
    type Response = SyncResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let frame = read_frame(io, MAX_REQUEST_BYTES).await?;
        SyncRequest::from_bytes(&frame).map_err(invalid)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        // A stream that wrote no request has nothing to expect.
        let limit = self.expect.take().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "a response without a request")
        })?;
        let frame = read_frame(io, limit.max_bytes).await?;
        SyncResponse::decode_limited(&frame, &limit).map_err(invalid)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: SyncRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        self.expect = Some(self.response_limit(&req));
        write_frame(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: SyncResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res).await
    }
}

#[cfg(test)]
mod tests {
    use libp2p::request_response::Codec;

    use super::*;

    /// A frame that announces `len` bytes and holds none of them.
    fn announced(len: usize) -> futures::io::Cursor<Vec<u8>> {
        futures::io::Cursor::new(
            u32::try_from(len)
                .unwrap_or(u32::MAX)
                .to_le_bytes()
                .to_vec(),
        )
    }

    /// What reading a response of `len` announced bytes to `request` gives.
    fn read_after(request: SyncRequest, len: usize) -> io::Result<SyncResponse> {
        let protocol = StreamProtocol::new("/cairn/test/sync/1");
        let mut codec = SyncCodec::new(1 << 20);
        futures::executor::block_on(async {
            let mut sink = futures::io::Cursor::new(Vec::new());
            codec.write_request(&protocol, &mut sink, request).await?;
            codec.read_response(&protocol, &mut announced(len)).await
        })
    }

    #[test]
    fn responses_larger_than_their_request_allows_are_refused_before_reading() {
        let over = [
            (SyncRequest::Status, 106),
            (
                SyncRequest::Headers {
                    locator: vec![],
                    max: 10,
                },
                5 + 10 * 96 + 1,
            ),
            (
                SyncRequest::Blocks {
                    ids: vec![cairn_core::BlockId::default(); 2],
                },
                5 + 2 * (1 << 20) + 1,
            ),
            (
                SyncRequest::Blocks {
                    ids: vec![cairn_core::BlockId::default(); MAX_BLOCKS],
                },
                5 + SOFT_RESPONSE_BYTES + (1 << 20) + 1,
            ),
        ];
        for (request, len) in over {
            let what = format!("{request:?}");
            let e = read_after(request, len).err();
            // Refused on the announced length: nothing after it was read (an attempt
            // to read the missing bytes would end in UnexpectedEof).
            assert_eq!(
                e.map(|e| e.kind()),
                Some(io::ErrorKind::InvalidData),
                "{what}"
            );
        }
        // Within the limit the codec goes on to read the (missing) frame.
        let e = read_after(SyncRequest::Status, 105).err();
        assert_eq!(e.map(|e| e.kind()), Some(io::ErrorKind::UnexpectedEof));
    }

    #[test]
    fn frames_over_the_limit_are_refused_before_reading_them() {
        let mut frame = u32::try_from(MAX_REQUEST_BYTES + 1)
            .unwrap_or(u32::MAX)
            .to_le_bytes()
            .to_vec();
        frame.extend_from_slice(&[0; 8]);
        let mut io = futures::io::Cursor::new(frame);
        let r = futures::executor::block_on(read_frame(&mut io, MAX_REQUEST_BYTES));
        assert_eq!(
            r.map_err(|e| e.kind()).err(),
            Some(io::ErrorKind::InvalidData)
        );
    }
}

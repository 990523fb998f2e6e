//! The sync protocol's wire codec: every message is one frame, a 4-byte
//! little-endian length, then the message in `cairn-core`'s canonical encoding (see
//! [`cairn_core::wire`]). Lengths are checked before anything is allocated, and
//! decoding is strict (no trailing bytes), so a peer cannot make us buffer more than
//! [`MAX_RESPONSE_BYTES`].

use std::io;

use cairn_core::encoding::DecodeError;
use cairn_core::{Decode, Encode};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

pub use cairn_core::wire::{
    ChainStatus, MAX_BLOCKS, MAX_HEADERS, MAX_LOCATOR, SyncRequest, SyncResponse,
};

/// Largest request frame.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// Largest response frame: room for the largest block any network allows.
pub const MAX_RESPONSE_BYTES: usize = cairn_core::block::MAX_BLOCK_BYTES_LIMIT + 1024;
/// A responder stops adding blocks to a response past this many bytes (a single
/// block may exceed it).
pub const SOFT_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// The libp2p request-response codec for [`SyncRequest`] / [`SyncResponse`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncCodec;

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
        let frame = read_frame(io, MAX_RESPONSE_BYTES).await?;
        SyncResponse::from_bytes(&frame).map_err(invalid)
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
    use super::*;

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

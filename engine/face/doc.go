// Package face is the on-device face engine: it finds faces (YuNet run in
// ONNX Runtime and decoded here), aligns them to the ArcFace template,
// embeds them (fr_feature, 512-d), measures their quality, scores passive
// liveness and turns the similarity of two faces into a calibrated match
// decision at a false-accept operating point.
//
// Passive liveness is MiniFASNetV2-SE alone, or (Config.MiniFASV2Model and
// MiniFASV1SEModel, as the product loads it) fused with minivision's
// MiniFASNetV2 and MiniFASNetV1SE: each model's log-odds Platt-calibrated
// and averaged (DefaultFusion), bounded by the screen and print traces of
// the document forensics measured on the face (Traces), a monochrome face
// judged by MiniFASNetV2-SE alone and never accepted passively.
//
// A still (a selfie or reference photo, not a camera frame) may come turned
// by a quarter or upside down: AnalyzeStill then finds its face in the
// image turned back (tried when no face is found as the still comes, or
// the face found has a short embedding, Analysis.Norm), and every stage
// after detection, liveness included, runs on that upright copy
// (Analysis.Turned says how it was turned).
//
// Images are BGR gocv.Mats as engine/imageio decodes them; the engine never
// reads files or resolves model names itself: its constructors take model
// paths.
package face

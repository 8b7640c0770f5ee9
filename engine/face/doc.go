// Package face is the on-device face engine: it finds faces (YuNet run in
// ONNX Runtime and decoded here), aligns them to the ArcFace template,
// embeds them (fr_feature, 512-d), measures their quality, scores passive
// liveness (MiniFASNetV2-SE) and turns the similarity of two faces into a
// calibrated match decision at a false-accept operating point.
//
// Images are BGR gocv.Mats as engine/imageio decodes them; the engine never
// reads files or resolves model names itself: its constructors take model
// paths.
package face
